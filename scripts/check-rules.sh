#!/usr/bin/env bash
# Checks deploy/prometheus with Debian's promtool (scripts/bootstrap.sh installs it): the scrape
# config and the rules it loads parse, and every rule's unit tests (rules_test.yml) pass.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1; then
    echo "check-rules: promtool is missing; scripts/bootstrap.sh installs Debian's prometheus package" >&2
    exit 1
fi
# Quiet when all is well; promtool's own report when not.
run() { local out; out="$("$@" 2>&1)" || { echo "$out" >&2; echo "check-rules: $* failed" >&2; exit 1; }; }
run promtool check config --lint=all deploy/prometheus/prometheus.yml
run promtool check rules --lint=all deploy/prometheus/rules.yml
run promtool test rules deploy/prometheus/rules_test.yml
echo "check-rules: deploy/prometheus config, $(grep -c '^ *- \(alert\|record\):' deploy/prometheus/rules.yml) rules and their unit tests pass"
