#!/bin/sh
# symbols.sh absent|present BINARY TEXT: whether BINARY's symbol table (nm -C)
# has a symbol whose demangled name contains TEXT. "absent" fails when one is
# there (a program linked code it must not), "present" when none is (proof
# that the check can see such symbols at all).
set -u
mode=$1 binary=$2 text=$3
command -v nm >/dev/null || { echo "nm is not installed: install binutils"; exit 1; }
symbols=$(nm -C "$binary") || { echo "nm cannot read $binary"; exit 1; }
[ -n "$symbols" ] || { echo "$binary has no symbol table (stripped?): nothing to check"; exit 1; }
found=$(printf '%s\n' "$symbols" | grep -F -- "$text" | head -5)
case $mode in
  absent)
    [ -z "$found" ] && exit 0
    echo "$binary links $text code, for example:"; printf '%s\n' "$found"; exit 1 ;;
  present)
    [ -n "$found" ] && exit 0
    echo "$binary has no $text symbol"; exit 1 ;;
esac
echo "usage: symbols.sh absent|present BINARY TEXT"; exit 2
