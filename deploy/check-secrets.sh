#!/bin/sh
# Usage: check-secrets.sh VARIABLE...
#
# Run by the one-shot secrets-check service of docker-compose.yml, which every service holding a secret waits
# for. Compose's ${VAR:?} refuses only an empty value, so without this a .env copied from .env.example would
# start Postgres and MinIO with `change-me` as their passwords. Exits non-zero naming each variable at fault;
# a value is never printed. POSIX sh only: it runs in whatever small image the service uses.

# MinIO refuses passwords under 8 characters at its start; a secret this short would be weak anyway.
MIN_LENGTH=12

if [ "$#" -eq 0 ]; then
    echo "usage: check-secrets.sh VARIABLE..." >&2
    exit 2
fi

status=0
refuse() {
    echo "secrets-check: $1 $2; set a real secret in .env and run \`docker compose up\` again" >&2
    status=1
}

for name in "$@"; do
    case $name in
        '' | [0-9]* | *[!A-Za-z0-9_]*)
            echo "secrets-check: '$name' is not a variable name" >&2
            exit 2
            ;;
    esac
    # The name is checked above, so eval only reads the variable it names.
    eval "is_set=\${$name+set} value=\${$name-}"
    if [ -z "$is_set" ]; then
        refuse "$name" "is not set"
        continue
    fi
    case $value in
        '')
            refuse "$name" "is empty"
            ;;
        *[Cc][Hh][Aa][Nn][Gg][Ee][-_.][Mm][Ee]* | *[Cc][Hh][Aa][Nn][Gg][Ee][Mm][Ee]*)
            refuse "$name" "is still the change-me placeholder of .env.example"
            ;;
        *)
            if [ "${#value}" -lt "$MIN_LENGTH" ]; then
                refuse "$name" "is shorter than $MIN_LENGTH characters"
            fi
            ;;
    esac
done

if [ "$status" -eq 0 ]; then
    echo "secrets-check: $# secret(s) set, none a placeholder"
fi
exit "$status"
