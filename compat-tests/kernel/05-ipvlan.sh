# ipvlan under a kernel that has it (User-Mode Linux): the dataplane half of
# compat-tests/34-ipvlan.sh, which on this VM can only prove the clean failure.
. "$(dirname "$0")/../34-ipvlan.sh"
