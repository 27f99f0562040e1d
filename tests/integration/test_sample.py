# SPDX-License-Identifier: ISC
"""The sample configuration that the build writes, conf/postern.conf.sample
(man/gen-conf-man --sample, from common/conf_defs.def): it names every
setting, each "#name = value" line in it holds the default, and the file
as generated, with every setting commented out, is accepted by
"postctl check".  See README.md and postern.conf(5)."""

import pwd
import re

import pytest

import postern_harness as ph

SAMPLE = ph.BUILDDIR / "conf" / "postern.conf.sample"
# A setting at its default: "#name = value", "#name =" when the value is
# empty, "#SERVICE.setting = value" for a built-in service's own values.
# No blank after the "#": prose lines and the service table have one.
SETTING = re.compile(r"#([a-z0-9_]+|[a-z0-9-]+\.[a-z0-9_]+) =(?: (.*))?")
WIDTH = 76


def read_generated(path):
    if not path.is_file():
        pytest.fail(f"{path} is missing: run make in {ph.BUILDDIR}",
                    pytrace=False)
    return path.read_text()


def sample_settings(text):
    """The commented-out settings of the sample, in file order:
    [(name, value)]."""
    out = []
    for line in text.splitlines():
        m = SETTING.fullmatch(line)
        if m:
            out.append((m.group(1), m.group(2) or ""))
    return out


def postctl_values(inst, *args):
    """"postctl config ARGS" as {name: value}."""
    r = inst.postctl("config", *args)
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        name, sep, value = line.partition(" =")
        assert sep, f"bad config line {line!r}"
        out[name] = value[1:] if value.startswith(" ") else value
    return out


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def local_values(inst, settings):
    """What a test instance must set differently: the programs are those of
    the build under test, and as root a user this machine lacks is
    replaced (postctl check looks users up only as root)."""
    out = {"daemon_directory": str(inst.libexec)}
    if ph.is_root():
        for name, value in settings:
            if (name == "mail_owner" or name.endswith(".user")) and \
                    value and not user_exists(value):
                out[name] = inst.mail_owner
    return out


def test_sample_names_every_setting(make_instance):
    """(a) postctl config -d prints every global name and every setting of
    each built-in service at its default.  Each global name has one
    "#name =" line and the sample has no other; each service setting is
    in the sample's service table, each built-in service has its block."""
    inst = make_instance()
    text = read_generated(SAMPLE)
    defaults = postctl_values(inst, "-d")
    assert "queue_directory" in defaults
    assert "smtpd_max_message_size" in defaults

    names = [name for name, _ in sample_settings(text)]
    globals_ = [n for n in defaults if "." not in n]
    for name in globals_:
        assert names.count(name) == 1, f"#{name} = is not in the sample once"
    globals_in_sample = {n for n in names if "." not in n}
    assert globals_in_sample == set(globals_), \
        f"not settings: {sorted(globals_in_sample - set(globals_))}"

    services = {n.split(".", 1)[0] for n in defaults if "." in n}
    assert services >= set(ph.BUILTIN_SERVICES)
    for service in services:
        assert re.search(rf"^# {service}: ", text, re.M), \
            f"built-in service {service} has no block in the sample"
    for name in {n.split(".", 1)[1] for n in defaults if "." in n}:
        assert re.search(rf"^#   SERVICE\.{name} =", text, re.M), \
            f"SERVICE.{name} is not in the sample's service table"
    # A built-in service's lines name real settings of a built-in service.
    for name in names:
        assert "." not in name or name in defaults, name


def test_sample_layout():
    """Only comment lines and blank lines, no trailing blanks; prose lines
    are at most WIDTH columns unless one word fills the line."""
    text = read_generated(SAMPLE)
    assert text.endswith("\n")
    for n, line in enumerate(text.splitlines(), 1):
        assert line == "" or line.startswith("#"), f"line {n}: {line!r}"
        assert line == line.rstrip(), f"line {n} ends in blanks: {line!r}"
        if len(line) > WIDTH and not SETTING.fullmatch(line):
            assert " " not in line.lstrip("# "), f"line {n} too long: {line!r}"


def test_uncommented_sample_is_valid(make_instance):
    """(b) With the "#" of every setting line removed (and only those),
    the file passes postctl check: every default of the table, and every
    value of a built-in service, is valid.  And it means the same as no
    file: each value postctl config prints is the default."""
    inst = make_instance()
    text = read_generated(SAMPLE)
    settings = sample_settings(text)
    assert settings
    local = local_values(inst, settings)
    lines = []
    for line in text.splitlines():
        m = SETTING.fullmatch(line)
        if m is None:
            lines.append(line)
            continue
        name, value = m.group(1), m.group(2) or ""
        value = local.get(name, value)
        lines.append(f"{name} = {value}" if value else f"{name} =")
    inst.write_config("\n".join(lines) + "\n")

    r = inst.postctl("check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "configuration OK" in r.stdout

    set_in_file = postctl_values(inst, "-n")
    assert set(set_in_file) == {name for name, _ in settings}
    got = postctl_values(inst)
    want = postctl_values(inst, "-d")
    for name in local:
        del got[name], want[name]
    assert got == want


def test_commented_sample_is_accepted(make_instance):
    """(c) The sample as generated, with only the lines a test instance
    needs added after it, passes postctl check and sets nothing itself."""
    inst = make_instance()
    text = read_generated(SAMPLE)
    local = local_values(inst, sample_settings(text))
    extra = "".join(f"{name} = {value}\n" for name, value in local.items())
    inst.write_config(text + extra)

    r = inst.postctl("check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "configuration OK" in r.stdout
    assert postctl_values(inst, "-n") == local
