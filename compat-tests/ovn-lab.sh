# The OVN lab of spec/ovn.md on compat-tests/lib.sh's three hosts, for
# compat-tests/55-ovn.sh and scripts/bench-ovn (sourced after lib.sh; not a
# scenario of its own). ovn_lab_up builds it: H1 runs the central
# Northbound and Southbound databases (unix sockets in $C, and TCP on
# 172.31.0.1) and ovn-northd; every host runs a private userspace Open
# vSwitch with br-int and an ovn-controller (its pid file beside OVS's, in
# OVS_DIRS[i]: OVN_RUNDIR) and tunnels with Geneve; an underlay MTU of 1600
# leaves guests 1500. Logical topology: ls1 (10.50.0.0/24, OVN's IPAM from
# .100 and DHCP options $DHCP) and ls2 (10.60.0.0/24), joined by router lr1
# (.1 on each). Afterwards: nbctl, sbctl, and pwo I ARGS… (pipework on host
# I with its ovn-controller; NB over the unix socket on H1, TCP elsewhere).
# Everything is removed by lib.sh's cleanup. OVN_LAB_DATAPATH=system
# (compat-tests/kernel): the OVS kernel datapath instead, the underlay
# address left on eth0 (the kernel routes the tunnels; no br-phy).

ovn_lab_up() {
    local dp=${OVN_LAB_DATAPATH:-netdev}
    new_hosts
    for i in 1 2 3; do start_ovs_on "$i"; done
    # Geneve with OVN's option adds 58 bytes: the underlay carries 1600, so
    # guests keep 1500 (spec/ovn.md, pitfall 5).
    for i in 1 2 3; do
        ip -n "$UNDERLAY" link set "u$i" mtu 1600
        on_host "$i" ip link set eth0 mtu 1600
    done
    for s in segA segB; do ip -n "$UNDERLAY" link set "$s" mtu 1600; done
    if [ "$dp" = netdev ]; then
        for i in 1 2 3; do br_phy "$i"; vsctl_on "$i" set Interface br-phy mtu_request=1600; done
    fi

    # Central on H1: NB and SB (unix socket and TCP on H1's underlay address), northd.
    C=$(mktemp -d /tmp/pwovn.XXXXXX)
    on_exit "for p in $C/northd.pid $C/nb.pid $C/sb.pid; do kill \$(cat \$p); done; sleep 0.2; rm -rf $C"
    for db in nb:6641 sb:6642; do
        n=${db%:*} port=${db#*:}
        ovsdb-tool create "$C/$n.db" "/usr/share/ovn/ovn-$n.ovsschema"
        on_host 1 ovsdb-server "$C/$n.db" --remote="punix:$C/$n.sock" --remote="ptcp:$port:172.31.0.1" \
            --unixctl="$C/$n.ctl" --pidfile="$C/$n.pid" --log-file="$C/$n.log" -vconsole:off --no-chdir --detach
    done
    NB=unix:$C/nb.sock SB=unix:$C/sb.sock
    on_host 1 ovn-northd --ovnnb-db="$NB" --ovnsb-db="$SB" --unixctl="$C/northd.ctl" --pidfile="$C/northd.pid" \
        --log-file="$C/northd.log" -vconsole:off --no-chdir --detach
    nbctl() { ovn-nbctl --db="$NB" --timeout=10 "$@"; }
    sbctl() { ovn-sbctl --db="$SB" --timeout=10 "$@"; }
    # Each chassis: br-int on the userspace datapath, then ovn-controller
    # (OVN_RUNDIR: where its pid file is, which pipework checks).
    for i in 1 2 3; do
        vsctl_on "$i" add-br br-int -- set Bridge br-int datapath_type="$dp" fail-mode=secure \
            other-config:disable-in-band=true
        vsctl_on "$i" set open . external-ids:system-id=pwH$i external-ids:hostname=pwH$i \
            external-ids:ovn-remote=tcp:172.31.0.1:6642 external-ids:ovn-encap-type=geneve \
            external-ids:ovn-encap-ip="${H_ADDR[i]}" external-ids:ovn-bridge-datapath-type="$dp"
        OVN_RUNDIR=${OVS_DIRS[i]} on_host "$i" ovn-controller "unix:${OVS_DIRS[i]}/db.sock" \
            --pidfile="${OVS_DIRS[i]}/ovn-controller.pid" --log-file="${OVS_DIRS[i]}/ovn-controller.log" \
            -vconsole:off --no-chdir --detach
    done
    # A failure shows what the OVN daemons last said.
    fail() {
        echo "FAIL [$SCENARIO]: $*" >&2
        for f in "$C"/northd.log "${OVS_DIRS[1]}"/ovn-controller.log "${OVS_DIRS[2]}"/ovn-controller.log \
                 "${OVS_DIRS[3]}"/ovn-controller.log; do
            echo "--- $f" >&2; tail -n 15 "$f" >&2 || true
        done
        exit 1
    }
    NBS=("" "$NB" tcp:172.31.0.1:6641 tcp:172.31.0.1:6641)
    # pwo I ARGS…: pipework on host I, with that host's ovn-controller and NB.
    pwo() { local i=$1; shift; OVN_RUNDIR=${OVS_DIRS[i]} OVN_NB_DB=${NBS[i]} on_host "$i" "$PIPEWORK_BIN" "$@"; }

    # The logical topology: ls1 (with OVN's IPAM and DHCP), ls2, router lr1.
    nbctl ls-add ls1 -- ls-add ls2 -- lr-add lr1 \
        -- set Logical_Switch ls1 other_config:subnet=10.50.0.0/24 other_config:exclude_ips=10.50.0.1..10.50.0.99
    nbctl lrp-add lr1 lr1-ls1 02:00:00:00:01:01 10.50.0.1/24 -- lrp-add lr1 lr1-ls2 02:00:00:00:01:02 10.60.0.1/24
    for n in 1 2; do
        nbctl lsp-add ls$n ls$n-lr1 -- lsp-set-type ls$n-lr1 router -- lsp-set-addresses ls$n-lr1 router \
            -- lsp-set-options ls$n-lr1 router-port=lr1-ls$n
    done
    DHCP=$(nbctl create DHCP_Options cidr=10.50.0.0/24 \
        options='"server_id"="10.50.0.1" "server_mac"="02:00:00:00:01:01" "lease_time"="3600" "router"="10.50.0.1"')
    for n in $(seq 100); do [ "$(sbctl --bare --columns=name list Chassis | grep -c pwH)" = 3 ] && break; sleep 0.1; done
    [ "$(sbctl --bare --columns=name list Chassis | grep -c pwH)" = 3 ] || fail "the three chassis did not register: $(sbctl show)"
    note "ok: three chassis registered (Geneve)"
}
