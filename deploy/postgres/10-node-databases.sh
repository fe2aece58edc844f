#!/bin/bash
# First start of the database server: one role and one database per node. Each role owns
# only its own database, and CONNECT is revoked from PUBLIC, so a node's credentials
# reach no other node's data. NODE_DATABASES lists "name:password" pairs.
set -euo pipefail
for pair in ${NODE_DATABASES:?NODE_DATABASES is not set}; do
    name=${pair%%:*}
    password=${pair#*:}
    echo "creating role and database ${name}"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set name="$name" --set password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
