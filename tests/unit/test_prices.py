"""The price table nblift ships and how a target's rate is found in it (or said to be missing)."""

from __future__ import annotations

import pytest

from nblift.costs.estimate import Estimate, estimate_text
from nblift.costs.prices import Priced, Rate, parse_budget, price_table, rate_of
from nblift.errors import ConfigError, InvalidInput


def test_the_shipped_table_is_dated_and_readable():
    table = price_table()
    assert table.as_of is not None and len(table.as_of) == 10
    assert "SkyPilot" in table.note
    clouds = {row.cloud for row in table.rows}
    assert {"aws", "gcp", "azure", "lambda"} <= clouds
    assert all(row.price is None or row.price > 0 for row in table.rows)
    assert all(
        row.spot_price is None or row.price is None or row.spot_price <= row.price for row in table.rows
    )


def test_a_target_s_own_rate_wins_and_a_lookup_names_its_source_and_date():
    assert rate_of(Priced(hourly_cost=2.5, instance_type="p4d.24xlarge"), "ssh_hosts.box") == (
        Rate(2.5, "hourly_cost of ssh_hosts.box"),
        "",
    )
    table = price_table()
    row = next(r for r in table.rows if r.instance_type == "p4d.24xlarge")
    rate, _ = rate_of(Priced(instance_type="p4d.24xlarge"), "ssh_hosts.box")
    assert rate is not None and rate.hourly == row.price and rate.as_of == table.as_of
    assert rate.source == f"aws p4d.24xlarge on-demand in {row.region}, the price table of {table.as_of}"
    spot, _ = rate_of(Priced(instance_type="p4d.24xlarge", spot=True), "x")
    assert spot is not None and spot.hourly == row.spot_price and "spot" in spot.source
    gpu, _ = rate_of(Priced(instance_type="A100:1", cloud="gcp"), "x")  # GCP prices GPUs alone
    assert gpu is not None and "the GPUs alone" in gpu.source


def test_a_missing_price_says_so_instead_of_guessing():
    assert rate_of(Priced(), "ssh_hosts.box") == (
        None,
        "no price for ssh_hosts.box: set hourly_cost (USD per hour) or instance_type in its table",
    )
    rate, why = rate_of(Priced(instance_type="x9.huge"), "ray_clusters.big")
    assert rate is None and why.startswith("no price for x9.huge in the price table of 20")
    rate, why = rate_of(Priced(instance_type="gpu_1x_a100_sxm4", spot=True), "x")
    assert rate is None and "no spot price for lambda gpu_1x_a100_sxm4" in why


def test_an_instance_type_two_clouds_list_needs_the_cloud(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(
        "# test prices read on 2026-01-02\n"
        "Cloud,InstanceType,AcceleratorName,AcceleratorCount,Price,SpotPrice,Region\n"
        "aws,gpu.big,A100,1,3.0,1.0,r1\nother,gpu.big,A100,1,2.0,,r2\n"
    )
    table = price_table(path)
    with pytest.raises(ConfigError, match=r"listed by several clouds \(aws, other\)") as err:
        rate_of(Priced(instance_type="gpu.big"), "x", table)
    assert err.value.hint == "set cloud in the target's table"
    rate, _ = rate_of(Priced(instance_type="gpu.big", cloud="other"), "x", table)
    assert rate == Rate(2.0, "other gpu.big on-demand in r2, the price table of 2026-01-02", "2026-01-02")


@pytest.mark.parametrize(
    ("typed", "value"), [("5", 5.0), ("$12.50", 12.5), (" ", None), (3, 3.0), (None, None)]
)
def test_a_budget_is_read_as_typed(typed, value):
    assert parse_budget(typed) == value


@pytest.mark.parametrize("typed", ["five", "-1", "0", True, "nan"])
def test_a_bad_budget_is_a_clear_error(typed):
    with pytest.raises(InvalidInput, match="budget"):
        parse_budget(typed)


def test_the_estimate_line_says_what_it_rests_on():
    rate = Rate(2.0, "hourly_cost of ssh_hosts.box")
    known = Estimate("nb.ipynb", "ssh:box", rate, "", 5400.0, "median of 3 earlier runs", 10.0)
    assert estimate_text(known) == (
        "~$3.00 (1 h 30 min at $2.00/h: median of 3 earlier runs; hourly_cost of ssh_hosts.box); "
        "budget $10.00 (stops after 5 h 00 min)"
    )
    unknown = Estimate("nb.ipynb", "ssh:box", rate, "", None, "no earlier successful run of nb.ipynb", None)
    assert estimate_text(unknown).endswith("duration unknown: no earlier successful run of nb.ipynb")
    assert (
        estimate_text(Estimate("n", "b", None, "no price for b", None, "", None))
        == "cost unknown: no price for b"
    )


def test_target_tables_take_the_price_keys_typed():
    from nblift.backends.remote import parse_targets
    from nblift.backends.ssh_connect import _KEYS

    found = parse_targets({"box": {"hourly_cost": 3, "max_cost": 12.5, "spot": True}}, _KEYS, "ssh_hosts")
    assert found == {"box": {"hourly_cost": 3.0, "max_cost": 12.5, "spot": True}}
    with pytest.raises(ConfigError, match=r"ssh_hosts\.box: hourly_cost must be a number"):
        parse_targets({"box": {"hourly_cost": "cheap"}}, _KEYS, "ssh_hosts")
    with pytest.raises(ConfigError, match="spot must be true or false"):
        parse_targets({"box": {"spot": 1}}, _KEYS, "ssh_hosts")
