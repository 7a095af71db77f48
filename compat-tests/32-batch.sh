# --batch: many attach lines in one run. Every line is checked before any
# runs (one bad line: nothing changes); a line that fails late is undone and
# the others go on, unless --fail-fast; the report names the failed lines.
. "$(dirname "$0")/lib.sh"
in_host ip link add br1 type bridge
in_host ip link set br1 up
G=(); for i in $(seq 0 11); do G+=("$(new_guest)"); done
BAD=$(new_guest)
# Its lines fail late: a guest sysctl that does not exist.
batch=$(mktemp); on_exit "rm -f $batch"

# Validation: every problem is reported, nothing changes.
before=$(snapshot "${G[0]}")
printf '%s\n' "br1 ${G[0]} 10.32.0.1/24" "br1 ${G[1]} 10.32.0.300/24" "br1 ${G[2]}" "br1 -i taken/x ${G[3]} 10.32.0.4/24" >"$batch"
fails_with "a batch with bad lines is refused as a whole" "line 2: .*not an IPv4.*line 3: incomplete.*line 4: .*contains '/'" \
    bash -c "$(declare -f pipework); HOST=$HOST PIPEWORK_BIN=$PIPEWORK_BIN; pipework --batch $batch 2>&1 | tr '\n' ' ' >&2; exit \${PIPESTATUS[0]}"
[ "$(snapshot "${G[0]}")" = "$before" ] || fail "a refused batch changed something"
note "ok: nothing changed"

# A late failure on line 8 (IPv6 is off in that guest): undone, the rest run.
{
    echo "# ten guests on br1, as a script would write them"
    for i in $(seq 0 9); do
        [ "$i" = 6 ] && echo "pipework br1 --sysctl net.ipv4.conf.eth1.no_such_setting=1 $BAD 2001:db8::6/64   # this one fails late"
        echo "pipework br1 ${G[$i]} 10.32.0.$((i + 1))/24 'U:guest $i'"
    done
} >"$batch"
out=$(pipework --batch "$batch" 2>&1) && fail "a batch with a failed line must exit 1: $out"
grep -q "batch: 10 attached, 1 failed (line 8)" <<<"$out" || fail "report: $out"
grep -q "line 8: .*no_such_setting" <<<"$out" || fail "the failure is not explained: $out"
note "ok: report: $(grep 'batch:' <<<"$out")"
expect "line 2 attached" "inet 10.32.0.1/24" in_guest "${G[0]}" ip -o addr show eth1
expect "the last line attached" "inet 10.32.0.10/24" in_guest "${G[9]}" ip -o addr show eth1
expect "quoted U: MAC" "$(printf '02:%s' "$(printf 'guest 9\n' | md5sum | cut -c1-10 | sed 's/../&:/g; s/:$//')")" in_guest "${G[9]}" ip -o link show eth1
expect_not "the failed line left nothing in its guest" "eth1" in_guest "$BAD" ip -o link
expect_not "nor in the host" "veth1pl$BAD" in_host ip -o link
ping_ok "${G[0]}" 10.32.0.10
# The same lines again, the failing one aside: every interface is already
# as asked, and the batch succeeds changing nothing (a batch run again by
# configuration management, or after a kill).
grep -v no_such_setting "$batch" >"$batch.again"; on_exit "rm -f $batch.again"
before=$(snapshot "${G[0]}")
out=$(pipework --batch "$batch.again" 2>&1) || fail "the same batch again failed: $out"
grep -q "batch: 0 attached, 10 already as asked, 0 failed" <<<"$out" || fail "report of the same batch again: $out"
grep -q "line 2: eth1 of ${G[0]} is already as asked" <<<"$out" || fail "the same batch again said: $out"
same_as_before "${G[0]}" "$before" "the same batch again: every line already as asked, nothing changed"

# A line the kernel refuses halfway (its second address is its first again:
# EEXIST after the veth, the port and the first address were made), between
# two lines on the same guest, over the same netlink connection: the error
# is that line's, its pair goes, the lines around it stay.
M=$(new_guest)
printf '%s\n' "br1 -i eth4 $M 10.32.4.1/24" "br1 -i eth5 $M 10.32.5.5/24,10.32.5.5/24" "br1 -i eth6 $M 10.32.6.1/24" >"$batch"
out=$(pipework --batch "$batch" 2>&1) && fail "a batch with a refused line must exit 1: $out"
grep -q "batch: 2 attached, 1 failed (line 2)" <<<"$out" || fail "report: $out"
grep -q "line 2: .*removed.*10.32.5.5/24.*eth5.*File exists" <<<"$out" || fail "the refusal is not line 2's: $out"
expect "the line before it stays" "inet 10.32.4.1/24" in_guest "$M" ip -o addr show eth4
expect "the line after it ran" "inet 10.32.6.1/24" in_guest "$M" ip -o addr show eth6
expect_not "the refused line left no interface in the guest" "eth5" in_guest "$M" ip -o link
expect_not "nor its host side" "veth5pl$M" in_host ip -o link

# --fail-fast from standard input: stops at the failure; later lines do not run.
printf '%s\n' "br1 -i eth2 ${G[10]} 10.32.1.1/24" "br1 -i eth2 --sysctl net.ipv4.conf.eth2.no_such_setting=1 $BAD 2001:db8::7/64" "br1 -i eth2 ${G[11]} 10.32.1.3/24" >"$batch"
out=$(in_host "$PIPEWORK_BIN" --batch - --fail-fast <"$batch" 2>&1) && fail "must exit 1"
grep -q "batch: 1 attached, 1 failed (line 2), 1 not run (--fail-fast)" <<<"$out" || fail "report: $out"
expect "the line before the failure stays" "inet 10.32.1.1/24" in_guest "${G[10]}" ip -o addr show eth2
expect_not "the line after it did not run" "eth2" in_guest "${G[11]}" ip -o link
printf '%s\n' "# a comment" "br1 -i eth3 ${G[11]} 10.32.2.3/24" >"$batch"
before=$(snapshot "${G[11]}")
expect "a dry run prints every line's plan" "# line 2: br1 -i eth3 ${G[11]} 10.32.2.3/24" pipework --dry-run --batch "$batch"
same_as_before "${G[11]}" "$before" "a batch dry run changed nothing"
