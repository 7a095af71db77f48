# ipvlan under a kernel that has it (the QEMU tier): the dataplane half of
# compat-tests/34-ipvlan.sh, which where ipvlan is missing proves the clean failure.
[ -d /sys/module/ipvlan ] || modprobe -q ipvlan ||
    { echo "N/A [05-ipvlan]: this kernel ($(uname -r)) lacks ipvlan"; exit 77; }
. "$(dirname "$0")/../34-ipvlan.sh"
