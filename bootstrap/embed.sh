#!/bin/sh
# embed.sh SCRIPT SYMBOL - prints a C file defining `const char SYMBOL[]` as the
# text of SCRIPT without its comment and blank lines (the build embeds the
# bootstrap's remote scripts into codex-connect this way; bytes, so no escaping).
set -e
printf '/* generated from %s by bootstrap/embed.sh: do not edit */\n' "${1##*/}"
printf 'extern const char %s[];\nconst char %s[] = {\n' "$2" "$2"
grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$1" | od -An -v -tu1 |
    sed 's/  */,/g; s/^,//; s/$/,/'
printf '0 };\n'
