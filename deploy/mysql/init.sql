-- Runs once, on the first start of the compose MySQL (docker-entrypoint-initdb.d).
-- The same schemas, users and passwords as the dev stack (devstack/dbinit.py dev_service_databases):
-- each service reaches only its own schema. Dev passwords: never use this file in production.
CREATE DATABASE IF NOT EXISTS `catalog` CHARACTER SET utf8mb4;
CREATE DATABASE IF NOT EXISTS `webhooks` CHARACTER SET utf8mb4;
CREATE DATABASE IF NOT EXISTS `auth` CHARACTER SET utf8mb4;

CREATE USER IF NOT EXISTS 'catalog_svc'@'%' IDENTIFIED BY 'catalog_dev_pw';
CREATE USER IF NOT EXISTS 'webhooks_svc'@'%' IDENTIFIED BY 'webhooks_dev_pw';
CREATE USER IF NOT EXISTS 'auth_svc'@'%' IDENTIFIED BY 'auth_dev_pw';

GRANT ALL PRIVILEGES ON `catalog`.* TO 'catalog_svc'@'%';
GRANT ALL PRIVILEGES ON `webhooks`.* TO 'webhooks_svc'@'%';
GRANT ALL PRIVILEGES ON `auth`.* TO 'auth_svc'@'%';
FLUSH PRIVILEGES;

-- The user compose's mysql-replica (profile "replica") replicates as (README "Replicated data tier").
CREATE USER IF NOT EXISTS 'replication'@'%' IDENTIFIED BY 'replication_dev_pw';
GRANT REPLICATION SLAVE ON *.* TO 'replication'@'%';
FLUSH PRIVILEGES;
