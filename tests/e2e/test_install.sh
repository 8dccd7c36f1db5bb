#!/usr/bin/env bash
# Packaging (issue 12 item 5): `cmake --install` of the build under test
# into a scratch prefix installs strata, the core library with its headers
# and pkg-config file, the man page, the systemd units and the example
# config. A program built against the installed core with `pkg-config
# strata` runs; the units pass `systemd-analyze verify`; the man page
# renders without groff warnings and lists exactly the options each
# command's --help lists.
. "$(dirname "$0")/lib.sh"
for tool in pkg-config groff systemd-analyze; do
    command -v $tool >/dev/null || fail "$tool is not installed (scripts/install-deps.sh test installs it)"
done
BUILD=$(dirname "$STRATA")
PREFIX=$WORK/inst
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 \
    || fail "cmake --install failed: $(tail -n 5 "$WORK/install.log")"
for f in bin/strata lib/libstrata_core.a include/strata/wire.h lib/pkgconfig/strata.pc \
    share/man/man1/strata.1 share/doc/strata/strata.conf lib/systemd/system/strata-control.service \
    lib/systemd/system/strata-peer@.service lib/systemd/system/strata-source@.service; do
    [ -f "$PREFIX/$f" ] || fail "make install did not install $f"
done
"$PREFIX/bin/strata" --help >/dev/null || fail "the installed strata does not run"
pass "installed: strata, libstrata_core.a, headers, strata.pc, strata.1, units, strata.conf"

# A program against the installed core, as a user of the library builds it
# (the build's compiler and, for a sanitized build, its sanitizer flags).
CC=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
extra=()
grep -q '^STRATA_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" && extra+=(-fsanitize=address,undefined)
grep -q '^STRATA_FUZZ:BOOL=ON' "$BUILD/CMakeCache.txt" && extra+=(-fsanitize=fuzzer-no-link)
cat >"$WORK/user.c" <<'C'
#include <stdio.h>
#include <strata/wire.h>
int main(void)
{
    strata_msg_probe in = {.node = {42}, .probe_id = 7, .send_ts_ns = 123456789}, out;
    unsigned char buf[64];
    int n = strata_wire_encode_probe(buf, sizeof buf, &in);
    int m = n > 0 ? strata_wire_decode_probe(buf, (size_t)n, &out) : n;
    if (n <= 0 || m != n || out.node.v != 42 || out.probe_id != 7 || out.send_ts_ns != 123456789) {
        printf("round trip failed: %d %d\n", n, m);
        return 1;
    }
    printf("PROBE of %d bytes round-trips; a short one: %s\n", n,
           strata_strerror(strata_wire_decode_probe(buf, 3, &out)));
    return 0;
}
C
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
flags=$(pkg-config --cflags --libs strata) || fail "pkg-config does not know strata"
"${CC:-cc}" -std=c11 "${extra[@]}" -o "$WORK/user" "$WORK/user.c" $flags 2>"$WORK/cc.log" \
    || fail "cannot build against the installed core ($flags): $(cat "$WORK/cc.log")"
"$WORK/user" || fail "the program built against the installed core failed"
pass "a program builds with \`pkg-config --cflags --libs strata\` ($flags) and runs"

# The units, the templates as an instance; man:strata(1) from the prefix.
cp "$PREFIX/lib/systemd/system/strata-control.service" "$WORK/"
cp "$PREFIX/lib/systemd/system/strata-peer@.service" "$WORK/strata-peer@tv.service"
cp "$PREFIX/lib/systemd/system/strata-source@.service" "$WORK/strata-source@tv.service"
grep -q "^ExecStart=$PREFIX/bin/strata peer --config $PREFIX/etc/strata/%i.conf\$" "$WORK/strata-peer@tv.service" \
    || fail "the peer unit names another strata or config: $(grep ExecStart "$WORK/strata-peer@tv.service")"
MANPATH=$PREFIX/share/man systemd-analyze verify "$WORK/strata-control.service" \
    "$WORK/strata-peer@tv.service" "$WORK/strata-source@tv.service" >"$WORK/verify.log" 2>&1 \
    || fail "systemd-analyze verify: $(cat "$WORK/verify.log")"
pass "the systemd units pass systemd-analyze verify"

# The man page: no groff warning, and per command the same long options as --help.
MAN=$PREFIX/share/man/man1/strata.1
groff -man -ww -z "$MAN" >"$WORK/groff.log" 2>&1 || fail "groff failed: $(cat "$WORK/groff.log")"
[ ! -s "$WORK/groff.log" ] || fail "groff warns about strata.1: $(cat "$WORK/groff.log")"
for sub in control peer source sim keygen token; do
    "$STRATA" $sub --help | grep -oE '^  (-[a-z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+' | sort -u >"$WORK/help.$sub"
    awk -v sec="strata $sub" '/^\.SS /{ on = index($0, "\"" sec "\"") > 0; next } /^\.SH /{ on = 0 }
        on && prev == ".TP" { print } { prev = $0 }' "$MAN" \
        | sed 's/\\-/-/g' | grep -oE -- '--[a-z-]+' | sort -u >"$WORK/man.$sub"
    [ -s "$WORK/man.$sub" ] || fail "strata.1 has no options for strata $sub"
    diff "$WORK/help.$sub" "$WORK/man.$sub" >"$WORK/diff.$sub" \
        || fail "strata.1 and 'strata $sub --help' list different options (< help, > man): $(cat "$WORK/diff.$sub")"
done
pass "strata.1 renders cleanly and lists each command's options as its --help does"
