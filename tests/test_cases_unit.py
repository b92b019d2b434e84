"""Unit tests of the case library: format validation with errors naming file, table and key."""
import pytest

import pyomo_ecc as ecc

pytestmark = pytest.mark.unit


def test_manifest_lists_the_seed_cases():
    cases = ecc.list_cases()
    assert cases.index.name == "case"
    assert {"seed000_community", "seed002_double_auction"} <= set(cases.index)
    assert cases.loc["seed000_community", "source"].startswith("J. Peng, D. Han (2025)")


def test_every_manifest_case_loads():
    for name in ecc.list_cases().index:
        case = ecc.load_case(name)
        assert case.meta.get("title"), name


def test_unknown_case():
    with pytest.raises(ecc.InputError, match="unknown case 'nope'"):
        ecc.load_case("nope")


def _write(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return str(p)


def test_malformed_toml(tmp_path):
    with pytest.raises(ecc.InputError, match="not valid TOML"):
        ecc.load_case(_write(tmp_path, "[case\ntitle='x'"))


def test_unknown_section_and_key(tmp_path):
    with pytest.raises(ecc.InputError, match=r"unknown section\(s\) \['generator'\]"):
        ecc.load_case(_write(tmp_path, "[case]\ntitle='x'\n[[generator]]\nname='g'\n"))
    with pytest.raises(ecc.InputError, match=r"unknown key\(s\) \['perods'\] in \[case\]"):
        ecc.load_case(_write(tmp_path, "[case]\ntitle='x'\nperods=3\n"))


def test_duplicate_names_and_bad_values(tmp_path):
    text = ("[case]\ntitle='x'\n[[producer]]\nname='g'\nbus='A'\nb=1\np_max=1\n"
            "[[consumer]]\nname='g'\nbus='A'\nb=2\nd_max=1\n")
    with pytest.raises(ecc.InputError, match="duplicate participant name 'g'"):
        ecc.load_case(_write(tmp_path, text))
    text = "[case]\ntitle='x'\n[[producer]]\nname='g'\nbus='A'\nb=1\np_max=-1\n"
    case = ecc.load_case(_write(tmp_path, text))
    with pytest.raises(ecc.InputError, match=r"Producer 'g'.*p_max.*>= 0"):
        case.build()


def test_missing_name(tmp_path):
    case = ecc.load_case(_write(tmp_path, "[case]\ntitle='x'\n[[producer]]\nbus='A'\nb=1\np_max=1\n"))
    with pytest.raises(ecc.InputError, match=r"\[\[producer\]\] entry 0 needs a 'name'"):
        case.build()


def test_a_missing_case_file_is_named():
    with pytest.raises(ecc.InputError, match="case file 'no/such/case.toml' does not exist"):
        ecc.load_case("no/such/case.toml")


@pytest.mark.parametrize("name", ["T", "dt", "network", "obj"])
def test_a_participant_name_taken_by_the_market_is_an_input_error(tmp_path, name):
    path = _write(tmp_path, f'[case]\ntitle = "x"\n[[producer]]\nname = "g"\nbus = 1\np_max = 5\nb = 1\n'
                            f'[[load]]\nname = "{name}"\nbus = 1\np = 1\n')
    with pytest.raises(ecc.InputError, match=f"\\[\\[load\\]\\] name '{name}' is taken by the market"):
        ecc.load_case(path).build()
