# SPDX-License-Identifier: ISC
"""pytest fixtures for postern's integration tests.

Run with: /usr/bin/python3 -m pytest tests/integration
The build under test is $POSTERN_BUILDDIR (an absolute path to a configured
and built build folder), else <repo>/build.

Fixtures:
  make_instance(services=..., extra=[...])  a new Instance (not started)
  instance                                  a started instance with one test
                                            service "test" on a loopback port
At teardown every instance is stopped, what it left is killed (by pid), and
any sanitizer report under its asan/ folder fails the test.  When a test
fails, the tail of each instance's log is added to the report.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import postern_harness as ph  # noqa: E402


def pytest_report_header(config):
    return f"postern build under test: {ph.BUILDDIR}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for inst in getattr(item, "postern_instances", []):
            rep.sections.append((f"postern log tail ({inst.root.name})",
                                 inst.log_tail()))
            out = inst.master_output()
            if out:
                rep.sections.append((f"postern-master output ({inst.root.name})",
                                     out[-4000:]))


def _check_build():
    missing = [str(p) for p in (ph.MASTER, ph.POSTCTL, ph.TEST_SERVICE)
               if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail("the build under test lacks " + ", ".join(missing) +
                    " (build it, or set POSTERN_BUILDDIR)", pytrace=False)


@pytest.fixture
def make_instance(request, tmp_path, tmp_path_factory):
    _check_build()
    created = []
    request.node.postern_instances = created
    top = tmp_path_factory.getbasetemp().parent

    def factory(services=None, extra=(), name=None, **kw):
        root = tmp_path / (name or f"i{len(created)}")
        inst = ph.Instance(root, services=services, extra=extra,
                           open_up_to=top, **kw)
        created.append(inst)
        return inst

    yield factory

    for inst in created:
        inst.teardown()
    reports = []
    for inst in created:
        reports.extend(inst.sanitizer_reports())
    if reports:
        pytest.fail("sanitizer reports:\n" + "\n".join(reports), pytrace=False)


@pytest.fixture
def instance(make_instance):
    port = ph.free_port()
    inst = make_instance({"test": {"listen": [f"127.0.0.1:{port}"]}})
    inst.port = port
    inst.start()
    return inst
