"""Point 3: Docker's 14 capabilities; non-root keeps none; --cap-add/--cap-drop change exactly the named bits."""
from conftest import probe

DEFAULT = 0xA80425FB


def caps(st):
    return {k: int(st[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def test_root_gets_exactly_docker_default():
    c = caps(probe("status"))
    assert c == {"CapInh": 0, "CapPrm": DEFAULT, "CapEff": DEFAULT, "CapBnd": DEFAULT, "CapAmb": 0}


def test_non_root_gets_nothing_but_the_bounding_set():
    c = caps(probe("status", opts=["--user", "1000:100"]))
    assert c == {"CapInh": 0, "CapPrm": 0, "CapEff": 0, "CapBnd": DEFAULT, "CapAmb": 0}


def test_cap_add_and_drop_change_exactly_the_named_bits():
    c = caps(probe("status", opts=["--cap-add", "SYS_PTRACE", "--cap-drop", "CAP_NET_RAW", "--cap-drop", "chown"]))
    want = (DEFAULT | (1 << 19)) & ~(1 << 13) & ~(1 << 0)
    assert c["CapBnd"] == c["CapPrm"] == c["CapEff"] == want
    assert c["CapInh"] == c["CapAmb"] == 0


def test_cap_drop_all():
    c = caps(probe("status", opts=["--cap-drop", "ALL"]))
    assert c["CapBnd"] == c["CapPrm"] == c["CapEff"] == 0


def test_no_new_privs_on_by_default_and_off_with_allow_setuid():
    assert probe("status")["NoNewPrivs"] == 1
    assert probe("status", opts=["--allow-setuid"])["NoNewPrivs"] == 0
    # With setuid allowed, the filter and the capabilities are still in place.
    st = probe("status", opts=["--allow-setuid"])
    assert st["Seccomp"] == 2 and int(st["CapBnd"], 16) == DEFAULT
