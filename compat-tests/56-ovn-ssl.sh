# pipework ovn:LSWITCH reaching OVN's Northbound database over TLS
# (`--ovn-nb ssl:IP:PORT` with --ovn-nb-key/-cert/-ca), on the lab of
# 55-ovn.sh. Certificates are made here with ovs-pki; the NB ovsdb-server on
# H1 listens on pssl: (and, as before, on ptcp:), asking for the client's
# certificate. Refusals (a missing option, an unreadable key, a certificate
# given as the key, the wrong CA, a client certificate the server does not
# trust, ssl: to a port that speaks no TLS) change nothing in NB, OVS or
# the hosts, and name the file; an attach over ssl: from H2 and H3 passes
# ping and 1 MB over TCP; --detach reaches NB over TLS again with the files
# the attach recorded; the dry run prints ovn-nbctl's -p/-c/-C.
. "$(dirname "$0")/lib.sh"
command -v ovn-northd >/dev/null || fail "OVN is not installed (scripts/setup installs ovn-central and ovn-host)"
command -v ovs-pki >/dev/null || fail "ovs-pki is not installed (package openvswitch-common)"
. "$(dirname "$0")/ovn-lab.sh"

# A PKI: switchca signs the server's and the hosts' certificates;
# controllerca is another CA, for the refusals.
P=$(mktemp -d /tmp/pwovnssl.XXXXXX); on_exit "rm -rf $P"
ovs-pki --dir="$P/pki" --log="$P/pki.log" init >/dev/null 2>&1 || fail "ovs-pki init: $(tail -5 "$P/pki.log")"
(cd "$P" && for n in nb:switch h:switch stranger:controller; do
    ovs-pki --dir="$P/pki" --log="$P/pki.log" req+sign "${n%:*}" "${n#*:}" >/dev/null 2>&1
done) || fail "ovs-pki req+sign: $(tail -5 "$P/pki.log")"
CA=$P/pki/switchca/cacert.pem OTHER_CA=$P/pki/controllerca/cacert.pem
KEY=$P/h-privkey.pem CERT=$P/h-cert.pem

ovn_lab_up
# NB again, now also on pssl:6643 with the server's key (ovn-northd
# reconnects over the unix socket).
pid=$(cat "$C/nb.pid"); kill "$pid"
for n in $(seq 100); do [ -e "/proc/$pid" ] || break; sleep 0.05; done
on_host 1 ovsdb-server "$C/nb.db" --remote="punix:$C/nb.sock" --remote="ptcp:6641:172.31.0.1" \
    --remote="pssl:6643:172.31.0.1" --private-key="$P/nb-privkey.pem" --certificate="$P/nb-cert.pem" \
    --ca-cert="$CA" --unixctl="$C/nb.ctl" --pidfile="$C/nb.pid" --log-file="$C/nb.log" -vconsole:off \
    --no-chdir --detach || fail "NB did not start with pssl:"
SSL=ssl:172.31.0.1:6643
on_host 2 ovn-nbctl --db=$SSL -p "$KEY" -c "$CERT" -C "$CA" --timeout=10 show >/dev/null ||
    fail "ovn-nbctl itself cannot reach NB over TLS"
note "ok: NB listens on pssl:6643 (ovn-nbctl reaches it)"

nb_state() { nbctl show; nbctl --columns=name,addresses,port_security,external_ids list Logical_Switch_Port | sort; }
all_state() { nb_state; for i in 2 3; do host_state "$i"; ovs_state "$i"; done; }
# tls I ARGS…: pipework on host I, NB over TLS with the host's files.
tls() { local i=$1; shift; pwo "$i" --ovn-nb $SSL --ovn-nb-key "$KEY" --ovn-nb-cert "$CERT" --ovn-nb-ca "$CA" "$@"; }

R=$(guest_on 2)
before=$(all_state)
fails_with "ssl: without its files names the missing options" \
    "reached over TLS.*missing: --ovn-nb-cert CERT \(-c\), --ovn-nb-ca CACERT \(-C\)" \
    pwo 2 --ovn-nb $SSL --ovn-nb-key "$KEY" ovn:ls1 "$R" 10.50.0.40/24
fails_with "a missing key file is named" "cannot read the private key $P/nope.pem \(--ovn-nb-key\): No such file" \
    pwo 2 --ovn-nb $SSL --ovn-nb-key "$P/nope.pem" --ovn-nb-cert "$CERT" --ovn-nb-ca "$CA" ovn:ls1 "$R" 10.50.0.40/24
fails_with "a certificate given as the key is named" "the private key $CERT \(--ovn-nb-key\) holds no private key" \
    pwo 2 --ovn-nb $SSL --ovn-nb-key "$CERT" --ovn-nb-cert "$CERT" --ovn-nb-ca "$CA" ovn:ls1 "$R" 10.50.0.40/24
fails_with "a key of another certificate is named" "the private key $P/stranger-privkey.pem \(--ovn-nb-key\) and the certificate $CERT \(--ovn-nb-cert\) do not go together" \
    pwo 2 --ovn-nb $SSL --ovn-nb-key "$P/stranger-privkey.pem" --ovn-nb-cert "$CERT" --ovn-nb-ca "$CA" ovn:ls1 "$R" 10.50.0.40/24
fails_with "the wrong CA is named" "the server's certificate is not signed by the CA in $OTHER_CA \(--ovn-nb-ca\)" \
    pwo 2 --ovn-nb $SSL --ovn-nb-key "$KEY" --ovn-nb-cert "$CERT" --ovn-nb-ca "$OTHER_CA" ovn:ls1 "$R" 10.50.0.40/24
fails_with "a client certificate the server does not trust is named" \
    "(the server refused|most likely it refused) this client's certificate $P/stranger-cert.pem \(--ovn-nb-cert\)" \
    pwo 2 --ovn-nb $SSL --ovn-nb-key "$P/stranger-privkey.pem" --ovn-nb-cert "$P/stranger-cert.pem" --ovn-nb-ca "$CA" \
    ovn:ls1 "$R" 10.50.0.40/24
fails_with "ssl: to a port without TLS says so" "ssl:172.31.0.1:6641.*(does not speak TLS|closed the connection during the TLS handshake).*pssl:" \
    pwo 2 --ovn-nb ssl:172.31.0.1:6641 --ovn-nb-key "$KEY" --ovn-nb-cert "$CERT" --ovn-nb-ca "$CA" ovn:ls1 "$R" 10.50.0.40/24
fails_with "ssl: for Open vSwitch's own database is refused by name" "an ssl: remote needs.*--ovn-nb-key.*unix:PATH" \
    pwo 2 --ovs-db ssl:127.0.0.1:6640 ovn:ls1 "$R" 10.50.0.40/24
[ "$(all_state)" = "$before" ] || fail "a refused line changed something:
$(diff <(echo "$before") <(all_state))"
note "ok: the refusals changed nothing in NB, OVS or the hosts"
expect "the dry run prints ovn-nbctl with -p, -c and -C" \
    "ovn-nbctl --db=$SSL -p $KEY -c $CERT -C $CA lsp-add ls1 [0-9]+-eth1" tls 2 --dry-run ovn:ls1 "$R" 10.50.0.40/24
[ "$(all_state)" = "$before" ] || fail "the dry run changed something"

# Attaches over TLS on H2 and H3, a guest over the unix socket on H1.
A1=$(guest_on 1) A2=$(guest_on 2) A3=$(guest_on 3)
pwo 1 ovn:ls1 "$A1" 10.50.0.11/24@10.50.0.1 || fail "attach A1 (unix:)"
tls 2 --ovn-port s2 ovn:ls1 "$A2" 10.50.0.12/24@10.50.0.1 || fail "attach A2 over ssl:"
# H3 names the files in the environment instead.
PIPEWORK_OVN_NB_KEY=$KEY PIPEWORK_OVN_NB_CERT=$CERT PIPEWORK_OVN_NB_CA=$CA pwo 3 --ovn-nb $SSL --ovn-port s3 \
    ovn:ls2 "$A3" 10.60.0.13/24@10.60.0.1 || fail "attach A3 over ssl:, the files named by PIPEWORK_OVN_NB_*"
expect "the logical port was made over TLS" 'pipework.chassis=pwH2' \
    nbctl --columns=external_ids list Logical_Switch_Port s2
port2=$(vsctl_on 2 --bare --columns=name find Interface external_ids:iface-id=s2)
expect "the OVS port records the remote and its files" "pipework.ovn-nb=\"?$SSL\"?.*pipework.ovn-nb-ca=\"?$CA\"?.*pipework.ovn-nb-cert=\"?$CERT\"?.*pipework.ovn-nb-key=\"?$KEY\"?" \
    vsctl_on 2 get Interface "$port2" external_ids
expect "and is bound" '^"true"$' vsctl_on 2 get Interface "$port2" external_ids:ovn-installed
in_guest "$A2" ping -c 1 -w 2 -i 0.2 10.50.0.11 >/dev/null || fail "the first ping right after the ssl: attach failed"
ping_ok "$A3" 10.50.0.12
tcp_ok "$A1" "$A2" 10.50.0.12
tcp_ok "$A2" "$A3" 10.60.0.13
before=$(nb_state; ovs_state 2)
expect "the line again over TLS is a no-op" "eth1 of $A2 is already as asked" \
    tls 2 --ovn-port s2 ovn:ls1 "$A2" 10.50.0.12/24@10.50.0.1
[ "$(nb_state; ovs_state 2)" = "$before" ] || fail "the line again changed something"

# --detach reaches NB over TLS with the recorded files (no options given).
pwo 2 --detach -i eth1 "$A2" || fail "detach A2"
[ -z "$(nbctl --bare --columns=name find Logical_Switch_Port name=s2)" ] || fail "s2 is still in NB"
[ -z "$(vsctl_on 2 --bare --columns=name find Interface external_ids:iface-id=s2)" ] || fail "s2's OVS port is still there"
note "ok: --detach removed the logical port over TLS, and the OVS port"
ping_fails "$A1" 10.50.0.12
ping_ok "$A1" 10.60.0.13
