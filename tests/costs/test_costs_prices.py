"""The price catalog: coverage of the built-in file, overrides and refusals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from potstill.costs import PriceCatalog, render_prices
from potstill.errors import PriceError

GOOD = """
entries:
  - {id: c6i.xlarge, provider: aws, instance: c6i.xlarge, region: us-east-1,
     usd_per_hour: 0.15, vcpus: 4, memory_gib: 8, source: "https://example.com/contract",
     date: 2025-01-31}
  - {id: onprem-1, provider: onprem, instance: r740, region: dc1, usd_per_hour: 0.05,
     vcpus: 32, memory_gib: 256, source: "https://example.com/tco", date: 2025-01-31}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    return path


def test_builtin_catalog_covers_cpu_and_gpu_on_three_clouds() -> None:
    catalog = PriceCatalog.load()
    assert catalog.prices_as_of == "2024-06-01"
    for provider in ("aws", "gcp", "azure"):
        mine = [e for e in catalog.entries if e.provider == provider]
        assert any(e.accelerator is None for e in mine), provider
        assert any(e.accelerator_count >= 1 for e in mine), provider
    for entry in catalog.entries:
        assert entry.source.startswith("https://") and entry.date == dt.date(2024, 6, 1)
    assert catalog.get("c6i.xlarge").usd_per_hour == 0.17
    assert len(set(catalog.ids)) == len(catalog.ids)


def test_unknown_instance_lists_the_valid_ids() -> None:
    with pytest.raises(PriceError, match=r"Unknown instance 'c9.huge'.*Valid ids: .*c6i\.xlarge"):
        PriceCatalog.load().get("c9.huge")


def test_override_replaces_same_id_and_adds_new(tmp_path: Path) -> None:
    catalog = PriceCatalog.load(write(tmp_path, GOOD))
    assert catalog.get("c6i.xlarge").usd_per_hour == 0.15
    assert catalog.get("onprem-1").vcpus == 32
    assert catalog.get("g4dn.xlarge").usd_per_hour == 0.526  # untouched built-in
    assert catalog.sources[-1].endswith("prices.yaml") and len(catalog.sources) == 2


@pytest.mark.parametrize("drop", ["source", "date"])
def test_a_price_without_source_or_date_is_refused(tmp_path: Path, drop: str) -> None:
    entries = yaml.safe_load(GOOD)["entries"]
    del entries[0][drop]
    path = write(tmp_path, yaml.safe_dump({"entries": entries}))
    with pytest.raises(PriceError, match=rf"entry 0 \(id 'c6i.xlarge'\): a price without {drop}"):
        PriceCatalog.load(path)
    entries[0][drop] = ""  # present but empty is refused the same way
    with pytest.raises(PriceError, match=f"a price without {drop}"):
        PriceCatalog.load(write(tmp_path, yaml.safe_dump({"entries": entries})))


def test_malformed_entries_name_file_entry_and_field(tmp_path: Path) -> None:
    bad = GOOD.replace("usd_per_hour: 0.05", "usd_per_hour: -1")
    with pytest.raises(PriceError, match=r"entry 1 \(id 'onprem-1'\): field 'usd_per_hour'.*-1"):
        PriceCatalog.load(write(tmp_path, bad))
    with pytest.raises(PriceError, match=r"field 'source' .*http"):
        PriceCatalog.load(write(tmp_path, GOOD.replace("https://example.com/tco", "tco.pdf")))
    with pytest.raises(PriceError, match="field 'colour'"):
        PriceCatalog.load(write(tmp_path, GOOD.replace("vcpus: 32,", "vcpus: 32, colour: red,")))
    with pytest.raises(PriceError, match="repeats the id"):
        PriceCatalog.load(write(tmp_path, GOOD.replace("id: onprem-1", "id: c6i.xlarge")))
    with pytest.raises(PriceError, match="list under 'entries'"):
        PriceCatalog.load(write(tmp_path, "- just a list\n"))
    with pytest.raises(PriceError, match="not valid YAML"):
        PriceCatalog.load(write(tmp_path, "entries: [\n"))
    with pytest.raises(PriceError, match="does not exist"):
        PriceCatalog.load(tmp_path / "missing.yaml")


def test_render_prices_lists_entries_and_sources() -> None:
    text = render_prices(PriceCatalog.load())
    assert "c6i.xlarge" in text and "Standard_NC4as_T4_v3" in text and "a2-highgpu-1g" in text
    assert "https://cloud.google.com/compute/gpus-pricing" in text and "2024-06-01" in text
