# Two runs that both find br7 missing and both create it: neither fails, and
# both guests end up on the one bridge (the reference races here).
. "$(dirname "$0")/lib.sh"
for round in 1 2 3 4 5; do
    A=$(new_guest); B=$(new_guest)
    pipework br7$round "$A" 10.140.$round.2/24 & pa=$!
    pipework br7$round "$B" 10.140.$round.3/24 & pb=$!
    wait $pa || fail "round $round: first run failed"
    wait $pb || fail "round $round: second run failed"
    ping_ok "$A" 10.140.$round.3
done
