"""The price catalog: what an hour of each cloud instance costs, and where that came from.

A cost figure is only auditable if its price is: every entry names its provider page
(``source``) and the day the price was read (``date``), and an entry without either is
refused. The built-in catalog (``prices.yaml`` beside this file) holds on-demand list
prices of CPU and GPU inference instances on AWS, GCP and Azure as of its stated date;
users override or extend it with a file of the same format (same ``id`` replaces).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from potstill.errors import PriceError

__all__ = ["PriceCatalog", "PriceEntry"]


class PriceEntry(BaseModel):
    """One instance type's on-demand price, with its provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Catalog key used to select the instance, e.g. 'c6i.xlarge'.")
    provider: str = Field(description="Cloud provider, e.g. 'aws', 'gcp', 'azure'.")
    instance: str = Field(description="The provider's instance (machine) type name.")
    region: str = Field(description="Region the price applies to, e.g. 'us-east-1'.")
    usd_per_hour: float = Field(gt=0, description="On-demand price in US dollars per hour.")
    vcpus: int = Field(ge=1, description="Virtual CPUs (hardware threads) of the instance.")
    memory_gib: float = Field(gt=0, description="Memory of the instance in GiB.")
    accelerator: str | None = Field(None, description="GPU/accelerator model, or null for CPU.")
    accelerator_count: int = Field(0, ge=0, description="Number of accelerators attached.")
    source: str = Field(description="URL of the provider's public price page the price is from.")
    date: dt.date = Field(description="Day the price was read (ISO date).")

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"must be the http(s) URL of a price page. Got {value!r} instead")
        return value

    @field_validator("id", "provider", "instance", "region")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    def as_record(self) -> dict[str, Any]:
        """The entry as the JSON that goes into ``Costs.instance``."""
        return self.model_dump(mode="json")


def _parse_entries(raw: Any, where: str) -> list[PriceEntry]:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("entries"), list):
        raise PriceError(
            f"Price file {where} must be a YAML mapping with a list under 'entries'. "
            f"Got {type(raw).__name__} instead. See the built-in prices.yaml for the format."
        )
    entries = []
    for index, item in enumerate(raw["entries"]):
        label = item.get("id") if isinstance(item, Mapping) else None
        label = f"entry {index}" + (f" (id {label!r})" if label else "")
        if isinstance(item, Mapping):
            missing = [k for k in ("source", "date") if not item.get(k)]
            if missing:
                raise PriceError(
                    f"Price file {where}, {label}: a price without {' and '.join(missing)} is "
                    "refused. Add 'source' (the provider's price-page URL) and 'date' (the day "
                    "the price was read, YYYY-MM-DD)."
                )
        try:
            entries.append(PriceEntry.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"field '{'.'.join(str(p) for p in err['loc']) or '(entry)'}' {err['msg']} "
                f"(got {err.get('input')!r})"
                for err in exc.errors()
            )
            raise PriceError(f"Price file {where}, {label}: {problems}.") from exc
    ids = [e.id for e in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise PriceError(f"Price file {where} repeats the id(s) {duplicates}; ids must be unique.")
    return entries


def _read_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PriceError(f"Price file {where} is not valid YAML: {exc}.") from exc


@dataclass(frozen=True)
class PriceCatalog:
    """The built-in price list, optionally overridden/extended by a user file."""

    entries: tuple[PriceEntry, ...]
    prices_as_of: str
    sources: tuple[str, ...]  # the files the entries were read from, in order

    @classmethod
    def load(cls, override: Path | None = None) -> PriceCatalog:
        """Read the built-in catalog, then ``override`` (same id replaces, new ids add)."""
        builtin = resources.files("potstill.costs").joinpath("prices.yaml")
        raw = _read_yaml(builtin.read_text(encoding="utf-8"), "potstill/costs/prices.yaml")
        merged = {e.id: e for e in _parse_entries(raw, "potstill/costs/prices.yaml")}
        as_of = str(raw.get("prices_as_of", ""))
        sources = ["potstill/costs/prices.yaml"]
        if override is not None:
            path = Path(override)
            if not path.is_file():
                raise PriceError(
                    f"Price override file '{path}' does not exist. Give the path of a YAML "
                    "file in the format of potstill/costs/prices.yaml."
                )
            user = _parse_entries(
                _read_yaml(path.read_text(encoding="utf-8"), f"'{path}'"), f"'{path}'"
            )
            merged.update({e.id: e for e in user})
            sources.append(str(path))
        return cls(tuple(merged.values()), as_of, tuple(sources))

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(e.id for e in self.entries)

    def get(self, instance_id: str) -> PriceEntry:
        """The entry with ``instance_id``; ``PriceError`` listing the valid ids otherwise."""
        for entry in self.entries:
            if entry.id == instance_id:
                return entry
        raise PriceError(
            f"Unknown instance {instance_id!r} in the price catalog. Valid ids: "
            f"{', '.join(self.ids)}. Add it with a price override file."
        )
