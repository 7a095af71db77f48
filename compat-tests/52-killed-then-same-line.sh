# SIGKILL at a random point of an attach, then the same line again, KILLS
# times (default 20; KILLS=200 for the figure): every rerun exits 0 and
# ends attached (address, default route) and pinging, whether the killed
# run had finished (the line is then as asked) or left something half-made
# (the line clears it and attaches). Then 1 MB over TCP.
. "$(dirname "$0")/lib.sh"
KILLS=${KILLS:-20}
P=$(new_guest); G=$(new_guest)
pipework br1 "$P" 10.52.0.1/24
line=(br1 "$G" 10.52.0.2/24@10.52.0.1)
RANDOM=5252

attached() {
    [[ $(in_guest "$G" ip -o addr show eth1) == *"inet 10.52.0.2/24"* ]] || fail "run $1: eth1 lacks its address"
    [[ $(in_guest "$G" ip route show default) == *"default via 10.52.0.1 dev eth1"* ]] || fail "run $1: no default route via eth1"
    in_guest "$G" ping -c 1 -W 2 10.52.0.1 >/dev/null || fail "run $1: attached, but no ping"
}

as_asked=0 repaired=0
for i in $(seq "$KILLS"); do
    ip netns exec "$HOST" "$PIPEWORK_BIN" "${line[@]}" >/dev/null 2>&1 &
    p=$!
    sleep "$(printf "0.%04d" $((RANDOM % 60)))"   # 0 to 6 ms: an attach here takes 3 to 5
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    out=$(pipework "${line[@]}" 2>&1) || fail "run $i: the same line after a SIGKILL failed: $out"
    if [[ $out == *"already as asked"* ]]; then as_asked=$((as_asked + 1)); else repaired=$((repaired + 1)); fi
    attached "$i"
    pipework --detach "$G" 2>/dev/null
done
pipework "${line[@]}"
tcp_ok "$G" "$P" 10.52.0.1
note "ok: SIGKILL $KILLS times, then the same line: all exit 0, attached and pinging ($as_asked already as asked, $repaired made or finished by the rerun)"
