#!/bin/bash
# Runs once, on the first start of compose's mysql-replica (docker-entrypoint-initdb.d, sourced by the
# entrypoint while its temporary server runs): seeds the replica with a consistent dump of the primary
# that carries the primary's GTID set (--set-gtid-purged=ON), then replicates by GTID auto-position.
# MySQL 8.4 syntax; read from its manual (Docker cannot run on our dev machines, so this script has
# not been run here: the MariaDB pair of `make up` and the tests is the one that runs).
set -euo pipefail
source_password="${MYSQL_SOURCE_ROOT_PASSWORD:?}"
until mysqladmin ping -h mysql -uroot -p"$source_password" --silent; do sleep 1; done
"${mysql[@]}" -e "RESET BINARY LOGS AND GTIDS"
mysqldump -h mysql -uroot -p"$source_password" --all-databases --single-transaction --triggers --routines \
    --events --set-gtid-purged=ON --source-data=0 | "${mysql[@]}"
"${mysql[@]}" <<SQL
CHANGE REPLICATION SOURCE TO SOURCE_HOST='mysql', SOURCE_PORT=3306, SOURCE_USER='replication',
  SOURCE_PASSWORD='replication_dev_pw', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1;
START REPLICA;
SQL
