"""Numba's caches are dropped when any source of the package changes (``compiled.purge_stale_caches``).

Numba checks a cached function against its own file only, so a caller
keeps what it compiled in from another file after that file changes. The
first test shows that on a package of two files, in new processes, and that
the purge fixes it; the others hold the purge's bookkeeping.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from gaussmix import compiled

pytestmark = pytest.mark.skipif(not compiled.AVAILABLE, reason="Numba's caches")


def _write_package(root, increment):
    package = root / "pkg"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "callee.py").write_text(textwrap.dedent(f"""
        import numba

        @numba.njit(cache=True)
        def increment():
            return {increment}
    """))
    (package / "caller.py").write_text(textwrap.dedent("""
        import numba
        from .callee import increment

        @numba.njit(cache=True)
        def plus_increment(x):
            return x + increment()
    """))
    return package


def _run(root, purge):
    code = textwrap.dedent(f"""
        import pathlib, sys
        sys.path.insert(0, {str(root)!r})
        from gaussmix import compiled
        if {purge}:
            compiled.purge_stale_caches(pathlib.Path({str(root / 'pkg')!r}))
        from pkg.caller import plus_increment
        print(plus_increment(10))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.parametrize("purge", [False, True])
def test_a_change_to_a_callee_reaches_its_cached_caller(tmp_path, purge):
    package = _write_package(tmp_path, 1)
    assert _run(tmp_path, purge) == 11
    assert list((package / "__pycache__").glob("caller.*.nbi"))  # cached
    _write_package(tmp_path, 2)  # only callee.py changes
    # Without the purge Numba runs the stale callee: the hazard is real here.
    assert _run(tmp_path, purge) == (12 if purge else 11)


def test_the_purge_deletes_only_caches_and_only_after_a_change(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub" / "__pycache__").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    caches = [package / "sub" / "__pycache__" / name for name in ("b.f-1.py311.nbi", "b.f-1.py311.1.nbc")]
    compiled_python = package / "sub" / "__pycache__" / "b.cpython-311.pyc"
    for path in caches + [compiled_python]:
        path.write_bytes(b"\0")
    assert compiled.purge_stale_caches(package) == 2  # no fingerprint yet: nothing is known good
    assert compiled_python.exists() and not any(path.exists() for path in caches)
    for path in caches:
        path.write_bytes(b"\0")
    assert compiled.purge_stale_caches(package) == 0  # unchanged sources keep their caches
    assert all(path.exists() for path in caches)
    (package / "sub" / "b.py").write_text("y = 3\n")
    assert compiled.purge_stale_caches(package) == 2
    assert compiled.sources_fingerprint(package) == (package / "__pycache__" / "numba-sources.stamp").read_text()


def test_the_fingerprint_follows_content_and_names(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    before = compiled.sources_fingerprint(tmp_path)
    (tmp_path / "a.py").write_text("x = 1\n")  # rewritten, the same bytes
    assert compiled.sources_fingerprint(tmp_path) == before
    (tmp_path / "a.py").rename(tmp_path / "b.py")
    assert compiled.sources_fingerprint(tmp_path) != before


def test_the_installed_package_is_checked_when_numba_loads():
    """The first compiled call purges before Numba is imported, and leaves the stamp of the sources."""
    code = textwrap.dedent("""
        import sys
        from gaussmix import compiled
        seen = []
        original = compiled.purge_stale_caches
        compiled.purge_stale_caches = lambda *a: seen.append("numba" in sys.modules) or original(*a)
        compiled.load()
        stamp = compiled.PACKAGE_DIR / "__pycache__" / "numba-sources.stamp"
        print(seen, stamp.exists() and stamp.read_text() == compiled.sources_fingerprint())
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seen, stamped = done.stdout.split("]")
    assert seen == "[False"  # called once, before Numba
    # The stamp is missing only where the package is read-only.
    writable = os.access(compiled.PACKAGE_DIR, os.W_OK)
    assert stamped.strip() == str(writable)


def test_a_cache_that_cannot_be_deleted_keeps_the_check_for_next_time(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    (package / "__pycache__").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    cache = package / "__pycache__" / "a.f-1.py311.nbi"
    cache.write_bytes(b"\0")
    original = pathlib.Path.unlink

    def refuse(self, *args, **kwargs):
        if self == cache:
            raise PermissionError(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "unlink", refuse)
    assert compiled.purge_stale_caches(package) == 0
    assert not (package / "__pycache__" / "numba-sources.stamp").exists()
    assert not list((package / "__pycache__").glob("*.tmp"))
