"""Settings files: PyYAML round trips, typed settings with sources in every message."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inverse3d.methods.base import setting
from inverse3d.pipeline.config import (
    ConfigError,
    build_config,
    check_config,
    dump_yaml,
    load_yaml,
    read_yaml_file,
    write_yaml_file,
)

# Strings with the characters that broke the old hand-written YAML: '#', ':', quotes, commas,
# backslashes (Windows paths), unicode, leading/trailing spaces, newlines.
_text = st.one_of(
    st.text(alphabet=st.sampled_from(list("ab #:,'\"\\/-_.{}[]*&!%@`|>\n\tzé✓日")), max_size=30),
    st.sampled_from(["C:\\runs\\a b", "x #y", "a, b", "'q'", "1e-4", "null", "yes", "~"]),
)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=False),
    st.sampled_from([1e-4, 1e30, -0.0, 5e-324, 0.1]),
    _text,
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=12,
)


class TestYamlRoundTrip:
    @settings(max_examples=1000, deadline=None)
    @given(st.dictionaries(_text, _value, max_size=6))
    def test_round_trip(self, values):
        assert load_yaml(dump_yaml(values)) == values

    def test_file_round_trip(self, tmp_path):
        values = {"data": "C:\\scans\\my #1: scan", "lr": 1e-4, "items": ["a, b", "c"]}
        path = tmp_path / "c.yaml"
        write_yaml_file(path, values)
        assert read_yaml_file(path) == values
        assert not list(tmp_path.glob("*.tmp"))

    def test_nan_and_inf(self):
        out = load_yaml(dump_yaml({"a": math.inf, "b": -math.inf, "c": math.nan}))
        assert out["a"] == math.inf and out["b"] == -math.inf and math.isnan(out["c"])

    def test_errors_name_the_source_and_line(self, tmp_path):
        with pytest.raises(ConfigError, match=r"c\.yaml:[23]: not valid YAML"):
            load_yaml("a: 1\nb: [1, 2\n", "c.yaml")
        with pytest.raises(ConfigError, match="expected a mapping"):
            load_yaml("- 1\n- 2\n", "c.yaml")
        p = tmp_path / "bad.yaml"
        p.write_bytes(b"a: \xff\n")
        with pytest.raises(ConfigError, match="not UTF-8"):
            read_yaml_file(p)
        with pytest.raises(FileNotFoundError, match="does not exist"):
            read_yaml_file(tmp_path / "none.yaml")

    def test_no_python_objects(self):
        with pytest.raises(ConfigError):
            load_yaml("a: !!python/object/apply:os.system ['echo hi']\n", "evil.yaml")


@dataclass
class _Cfg:
    steps: int = setting(10, "steps", low=0)
    lr: float = setting(0.1, "learning rate", low=0.0, high=1.0)
    init: str = setting("hull", "initialisation", choices=("hull", "sphere"))
    flag: bool = setting(True, "a switch")
    sizes: tuple[int, ...] = setting((8, 16), "sizes", low=1)
    name: str | None = setting(None, "optional name")


class TestBuildConfig:
    def test_types_are_coerced(self):
        cfg = build_config(_Cfg, {"steps": 5.0, "lr": 1, "sizes": [4, 8, 16]}, {})
        assert cfg.steps == 5 and isinstance(cfg.steps, int)
        assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
        assert cfg.sizes == (4, 8, 16)

    @pytest.mark.parametrize(
        "values, needles",
        [
            ({"steps": "many"}, ["f.yaml: steps", "integer", "'many'"]),
            ({"lr": "fast"}, ["f.yaml: lr", "number", "'fast'"]),
            ({"flag": "yes"}, ["f.yaml: flag", "true or false"]),
            ({"sizes": 8}, ["f.yaml: sizes", "list"]),
            ({"sizes": [8, "x"]}, ["f.yaml: sizes[1]", "integer"]),
            ({"lr": 2.0}, ["f.yaml: lr must be <= 1.0", "2.0"]),
            ({"steps": -1}, ["f.yaml: steps must be >= 0"]),
            ({"sizes": [8, 0]}, ["sizes must be >= 1"]),
            ({"init": "cube"}, ["init must be one of hull, sphere", "'cube'"]),
            ({"lr": math.nan}, ["lr must be a number; got nan"]),
            ({"warp": 9}, ["'warp' is not a setting"]),
        ],
    )
    def test_errors_name_source_and_key(self, values, needles):
        with pytest.raises(ConfigError) as e:
            build_config(_Cfg, values, dict.fromkeys(values, "f.yaml"))
        for n in needles:
            assert n in str(e.value), (n, str(e.value))

    def test_check_config_of_defaults(self):
        assert check_config(_Cfg()) == _Cfg()
        with pytest.raises(ConfigError, match="--lr"):
            check_config(_Cfg(lr=-1.0), {"lr": "--lr"})
