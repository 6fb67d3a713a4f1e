"""Silicon cost: dies per wafer, yield, known-good-die cost, packages, HBM, test, NRE, margin.

Every formula is a numpy function that broadcasts over its array arguments. Units: mm and mm² for
geometry, defects per cm² for D0, USD for money. Formulas and their sources are collected in
``shared/reference/cost_parameters.md`` §3; the numbers live in ``catalog/data/cost/silicon.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from chipplan.catalog.cost import CostCatalog, central
from chipplan.cost._arr import arr, fraction, out
from chipplan.errors import FieldError
from chipplan.specs import Accelerator
from chipplan.units import GIB

YIELD_MODELS = ("poisson", "murphy", "seeds", "moore", "negative-binomial", "bose-einstein")
MM2_PER_CM2 = 100.0


# ---------------------------------------------------------------------------------------------- wafer
def classic_dies_per_wafer(die_area_mm2: Any, wafer_diameter_mm: Any = 300.0) -> Any:
    """The textbook estimate DPW = π(d/2)²/A − π·d/√(2A) (de Vries; Hennessy & Patterson), unrounded.

    No scribe lines or edge exclusion; the second term counts the partial dies lost on the rim.
    814 mm² on 300 mm → 63.5.
    """
    a = arr("die_area_mm2", die_area_mm2, lo_open=True)
    d = arr("wafer_diameter_mm", wafer_diameter_mm, lo_open=True)
    return out(np.pi * (d / 2) ** 2 / a - np.pi * d / np.sqrt(2 * a))


def gross_dies_per_wafer(die_area_mm2: Any, wafer_diameter_mm: Any = 300.0, edge_exclusion_mm: Any = 3.0,
                         scribe_mm: Any = 0.2) -> Any:
    """Whole dies per wafer with scribe lines and an edge exclusion ring (rounded down, >= 0).

    A square die of area A grows by the scribe s to A' = (√A + s)²; the usable disc has radius
    r = d/2 − e, so DPW = ⌊πr²/A' − π·2r/√(2A')⌋ (the form used by Chiplet Actuary, Feng & Ma, DAC 2022).
    With s = e = 0 it is the classic formula, rounded down.
    """
    a = arr("die_area_mm2", die_area_mm2, lo_open=True)
    d = arr("wafer_diameter_mm", wafer_diameter_mm, lo_open=True)
    e = arr("edge_exclusion_mm", edge_exclusion_mm)
    s = arr("scribe_mm", scribe_mm)
    r = d / 2 - e
    if np.any(r <= 0):
        raise _ring_error(*_worst(r, d, e))
    return out(np.floor(np.maximum(_dpw(a, r, s), 0.0)))


#: The wafer a die's fit is judged against when the inputs disagree on which one is wrong (300 mm, the size every
#: leading-edge node runs; SEMI M1).
STANDARD_WAFER_DIAMETER_MM = 300.0


def _worst(score: np.ndarray, *inputs: Any) -> list[float]:
    """Each input at the element where ``score`` (their broadcast result) is lowest: the case an error names."""
    i = int(np.argmin(score))
    return [float(np.broadcast_to(np.asarray(x, dtype=float), np.shape(score)).flat[i]) for x in inputs]


def _ring_error(wafer_diameter_mm: float, edge_exclusion_mm: float) -> FieldError:
    """The edge-exclusion ring covers the whole wafer: the input further from its usual value is the slip."""
    d, e = float(wafer_diameter_mm), float(edge_exclusion_mm)
    if d < STANDARD_WAFER_DIAMETER_MM and e <= STANDARD_WAFER_DIAMETER_MM / 2:
        return FieldError("wafer_diameter_mm", f"must exceed twice the edge exclusion ({e:g} mm)", d)
    return FieldError("edge_exclusion_mm", f"must be less than the wafer radius ({d / 2:g} mm)", e)



def _dpw(a: Any, r: Any, s: Any) -> Any:
    a_eff = (np.sqrt(a) + s) ** 2
    return np.pi * r**2 / a_eff - np.pi * 2 * r / np.sqrt(2 * a_eff)


def no_whole_die(die_area_mm2: float, wafer_diameter_mm: float, edge_exclusion_mm: float,
                 scribe_mm: float) -> FieldError:
    """The error for a die that leaves no whole die on its wafer, naming the input that makes it so.

    The die is blamed only when it is too large for a standard 300 mm wafer without a scribe line; otherwise the
    scribe line (when the die fits without it) or the wafer diameter is.

    >>> str(no_whole_die(800, 100, 3, 30)).split(",")[0]
    'scribe_mm: a 30 mm scribe line around the 800 mm² die leaves no whole die on the 100 mm wafer'
    >>> str(no_whole_die(800, 40, 3, 0.2)).split(",")[0]
    'wafer_diameter_mm: a 40 mm wafer holds no whole 800 mm² die'
    """
    a, d, e, s = (float(x) for x in (die_area_mm2, wafer_diameter_mm, edge_exclusion_mm, scribe_mm))
    r = d / 2 - e
    if _dpw(a, r, 0.0) >= 1:
        return FieldError("scribe_mm", f"a {s:g} mm scribe line around the {a:g} mm² die leaves no whole die on "
                          f"the {d:g} mm wafer", s)
    if d < STANDARD_WAFER_DIAMETER_MM and _dpw(a, STANDARD_WAFER_DIAMETER_MM / 2 - e, s) >= 1:
        return FieldError("wafer_diameter_mm", f"a {d:g} mm wafer holds no whole {a:g} mm² die", d)
    return FieldError("die_area_mm2", f"leaves no whole die on the {d:g} mm wafer (usable disc {2 * r:g} mm "
                      f"across, {np.pi * r * r:,.0f} mm²)", a)


def usable_wafer_area_mm2(wafer_diameter_mm: Any = 300.0, edge_exclusion_mm: Any = 3.0) -> Any:
    d = arr("wafer_diameter_mm", wafer_diameter_mm, lo_open=True)
    e = arr("edge_exclusion_mm", edge_exclusion_mm)
    return out(np.pi * np.maximum(d / 2 - e, 0.0) ** 2)


def check_die_area(die_area_mm2: Any, *, n_dies: int = 1, wafer_scale: bool = False,
                   reticle_limit_mm2: float = 858.0, wafer_diameter_mm: float = 300.0,
                   edge_exclusion_mm: float = 3.0, field: str = "die_area_mm2") -> np.ndarray:
    """Enforce the physical limits on a die (area per die, mm²).

    A monolithic die must fit one lithography field (26 × 33 mm = 858 mm²); larger silicon has to be
    split across dies in a package (``n_dies`` > 1 with each die within the reticle) or stitched across
    the whole wafer (``wafer_scale``). Nothing may exceed the usable wafer area.
    """
    a = arr(field, die_area_mm2, lo_open=True)
    if wafer_diameter_mm / 2 - edge_exclusion_mm <= 0:
        raise _ring_error(wafer_diameter_mm, edge_exclusion_mm)
    wafer = usable_wafer_area_mm2(wafer_diameter_mm, edge_exclusion_mm)
    if np.any(a > wafer):
        standard = usable_wafer_area_mm2(STANDARD_WAFER_DIAMETER_MM, edge_exclusion_mm)
        if wafer_diameter_mm < STANDARD_WAFER_DIAMETER_MM and np.all(a <= standard):  # the wafer is the slip
            raise FieldError("wafer_diameter_mm", f"a {wafer_diameter_mm:g} mm wafer (usable area {wafer:,.0f} mm²) "
                             f"is smaller than the {float(a.max()):g} mm² die", wafer_diameter_mm)
        raise FieldError(field, f"a die must fit on the {wafer_diameter_mm:g} mm wafer "
                         f"(usable area {wafer:,.0f} mm²)", out(a.max()))
    if not wafer_scale and np.any(a > reticle_limit_mm2):
        hint = "split it across dies (multi-die) or declare it wafer-scale"
        if n_dies > 1:
            hint = "use more dies or declare it wafer-scale"
        raise FieldError(field, f"exceeds the reticle limit of {reticle_limit_mm2:g} mm² per die; {hint}",
                         out(a.max()))
    return a


# ---------------------------------------------------------------------------------------------- yield
def die_yield(die_area_mm2: Any, defect_density_per_cm2: Any, model: str = "negative-binomial",
              alpha: Any = 10.0, critical_layers: Any = 10.0) -> Any:
    """Fraction of dies with no killer defect, for λ = A·D0 (A in cm²).

    Models (Stapper 1983; Murphy 1964; Seeds 1967; Moore 1970; Price 1970):

    - ``poisson``: e^(−λ)
    - ``murphy``: ((1 − e^(−λ))/λ)²
    - ``seeds``: 1/(1 + λ)
    - ``moore``: e^(−√λ)
    - ``negative-binomial``: (1 + λ/α)^(−α); α is the clustering parameter (α → ∞ is Poisson, α = 1 Seeds)
    - ``bose-einstein``: (1 + λ/n)^(−n) over n critical layers, each with density D0/n (Price's formula
      written with the total D0, as in google/chiplets-cost-model)

    814 mm² at 0.1/cm² with α = 10 → 0.457.
    """
    a = arr("die_area_mm2", die_area_mm2)
    d0 = arr("defect_density_per_cm2", defect_density_per_cm2)
    lam = a / MM2_PER_CM2 * d0
    if model == "poisson":
        y = np.exp(-lam)
    elif model == "murphy":
        safe = np.where(lam > 0, lam, 1.0)
        y = np.where(lam > 0, (-np.expm1(-safe) / safe) ** 2, 1.0)
    elif model == "seeds":
        y = 1.0 / (1.0 + lam)
    elif model == "moore":
        y = np.exp(-np.sqrt(lam))
    elif model == "negative-binomial":
        al = arr("alpha", alpha, lo_open=True)
        y = (1.0 + lam / al) ** (-al)
    elif model == "bose-einstein":
        n = arr("critical_layers", critical_layers, lo_open=True)
        y = (1.0 + lam / n) ** (-n)
    else:
        raise FieldError("yield_model", f"must be one of {', '.join(YIELD_MODELS)}", model)
    return out(y)


def redundant_yield(die_area_mm2: Any, defect_density_per_cm2: Any, *, n_units: Any, n_required: Any,
                    unit_area_fraction: Any, model: str = "negative-binomial", alpha: Any = 10.0,
                    critical_layers: Any = 10.0) -> Any:
    """Yield of a die that works when ``n_required`` of its ``n_units`` identical units are good.

    Units (SMs, cores) cover ``unit_area_fraction`` of the die; the rest (I/O, fabric) must be
    defect-free. Y = Y(A·(1−f)) · P[Binomial(n, Y(A·f/n)) >= k]. Units are treated as independent,
    which ignores defect clustering between neighbouring units (optimistic for small α). Used for
    harvested GPUs (a part sold with some units disabled) and for wafer-scale engines with spare cores.
    """
    a = arr("die_area_mm2", die_area_mm2)
    f = arr("unit_area_fraction", unit_area_fraction, hi=1.0)
    n = arr("n_units", n_units, lo=1.0)
    k = arr("n_required", n_required, lo=1.0)
    if np.any(k > n):
        raise FieldError("n_required", "must not exceed n_units", out(k.max()))
    y_unit = np.asarray(die_yield(a * f / n, defect_density_per_cm2, model, alpha, critical_layers))
    y_rest = np.asarray(die_yield(a * (1 - f), defect_density_per_cm2, model, alpha, critical_layers))
    p_enough = stats.binom.sf(k - 1, n, y_unit)
    return out(y_rest * p_enough)


# ---------------------------------------------------------------------------------------------- dies
def die_cost(die_area_mm2: Any, wafer_price_usd: Any, defect_density_per_cm2: Any, *,
             model: str = "negative-binomial", alpha: Any = 10.0, critical_layers: Any = 10.0,
             wafer_diameter_mm: Any = 300.0, edge_exclusion_mm: Any = 3.0, scribe_mm: Any = 0.2,
             probe_usd_per_die: Any = 0.0, yield_override: Any = None) -> dict[str, Any]:
    """Cost of one known-good die (KGD).

    raw die = wafer / DPW; KGD = wafer / (DPW · Y) + wafer probe per good die (probe is paid on every
    gross die, so per good die it is probe / Y). ``yield_override`` replaces the model yield (e.g. a
    ``redundant_yield`` result).
    """
    w = arr("wafer_price_usd", wafer_price_usd)
    probe = arr("probe_usd_per_die", probe_usd_per_die)
    dpw = np.asarray(gross_dies_per_wafer(die_area_mm2, wafer_diameter_mm, edge_exclusion_mm, scribe_mm))
    if np.any(dpw < 1):
        raise no_whole_die(*_worst(dpw, die_area_mm2, wafer_diameter_mm, edge_exclusion_mm, scribe_mm))
    y = (np.asarray(die_yield(die_area_mm2, defect_density_per_cm2, model, alpha, critical_layers))
         if yield_override is None else fraction("yield", yield_override))
    good = dpw * y
    return {
        "gross_dies_per_wafer": out(dpw),
        "yield": out(y),
        "good_dies_per_wafer": out(good),
        "raw_die_cost_usd": out(w / dpw),
        "cost_per_good_die_usd": out(w / good + probe / y),
        "defect_cost_usd": out(w / good - w / dpw),
    }


def wafer_scale_die_cost(wafer_price_usd: Any, die_yield_: Any, probe_usd_per_die: Any = 0.0) -> dict[str, Any]:
    """Cost of one good wafer-scale die: the whole wafer is the die, so KGD = (wafer + probe) / Y, with Y the
    redundancy-aware yield (``redundant_yield``); a wafer that yields nothing costs infinitely much."""
    w = arr("wafer_price_usd", wafer_price_usd)
    y = np.maximum(np.asarray(fraction("yield", np.maximum(np.asarray(die_yield_, dtype=float), 1e-300))), 1e-300)
    probe = arr("probe_usd_per_die", probe_usd_per_die)
    return {"gross_dies_per_wafer": 1.0, "yield": out(y), "good_dies_per_wafer": out(y), "raw_die_cost_usd": out(w),
            "cost_per_good_die_usd": out((w + probe) / y), "defect_cost_usd": out(w / y - w)}


# ---------------------------------------------------------------------------------------------- package
def package_cost(*, kgd_cost_usd: Any, n_dies: Any, hbm_stacks: Any, hbm_stack_usd: Any, packaging_usd: Any,
                 bond_yield_per_die: Any, final_test_usd: Any) -> dict[str, Any]:
    """Assembled, tested accelerator package (chip-last 2.5D or single-die flip chip).

    Every logic die and HBM stack is one bond with yield y_b; a failed bond scraps the whole package with
    the parts already on it, so the expected scrap is (parts + package) · (1/y_b^n − 1) with
    n = dies + stacks (the chip-last scrap term of Chiplet Actuary, with the package price standing in
    for interposer and substrate). Final test is paid per good package.
    """
    kgd = arr("kgd_cost_usd", kgd_cost_usd)
    nd = arr("n_dies", n_dies, lo=1.0)
    ns = arr("hbm_stacks", hbm_stacks)
    hbm = arr("hbm_stack_usd", hbm_stack_usd)
    pkg = arr("packaging_usd", packaging_usd)
    yb = fraction("bond_yield_per_die", bond_yield_per_die)
    test = arr("final_test_usd", final_test_usd)
    logic = nd * kgd
    memory = ns * hbm
    y_asm = yb ** (nd + ns)
    scrap = (logic + memory + pkg) * (1.0 / y_asm - 1.0)
    total = logic + memory + pkg + scrap + test
    return {"logic_dies_usd": out(logic), "hbm_usd": out(memory), "packaging_usd": out(pkg * np.ones_like(total)),
            "assembly_yield": out(y_asm), "assembly_scrap_usd": out(scrap), "test_usd": out(test * np.ones_like(total)),
            "manufacturing_cost_usd": out(total)}


def nre_per_unit(nre_usd: Any, volume_units: Any) -> Any:
    """Design NRE spread over the lifetime ``volume_units``: NRE / volume."""
    return out(arr("nre_usd", nre_usd) / arr("volume_units", volume_units, lo_open=True))


def price_from_cost(cost_usd: Any, gross_margin: Any) -> Any:
    """Selling price that earns ``gross_margin`` on cost: price = cost / (1 − m), 0 <= m < 1."""
    c = arr("cost_usd", cost_usd)
    m = arr("gross_margin", gross_margin, hi=1.0, hi_open=True)
    return out(c / (1.0 - m))


def gross_margin_of(price_usd: Any, cost_usd: Any) -> Any:
    """Gross margin (price − cost)/price."""
    p = arr("price_usd", price_usd, lo_open=True)
    return out((p - arr("cost_usd", cost_usd)) / p)


def nre_usd(design_nre_usd: Any, mask_set_usd: Any = 0.0, respins: Any = 0) -> Any:
    """Total design NRE: the full design cost (labour, EDA, IP, verification, software, first mask set, as
    IBS counts it) plus one extra mask set per respin."""
    return out(arr("design_nre_usd", design_nre_usd) + arr("mask_set_usd", mask_set_usd) * arr("respins", respins))


def nre_components(total_nre_usd: Any, software_share: float, verification_share: float) -> dict[str, Any]:
    """Split a design NRE into software, verification and the rest (architecture, physical design, IP,
    masks), with the IBS 2023 shares from the cost catalog."""
    t = arr("nre_usd", total_nre_usd)
    return {"software_usd": out(t * software_share), "verification_usd": out(t * verification_share),
            "design_ip_masks_usd": out(t * (1 - software_share - verification_share))}


# ---------------------------------------------------------------------------------------------- chips
@dataclass(frozen=True, kw_only=True)
class ChipRecipe:
    """What an accelerator package is made of, for costing. Areas are per logic die (mm²)."""

    die_area_mm2: float
    node: str
    n_dies: int = 1
    hbm_stacks: int = 0
    hbm_generation: str = "HBM3"
    packaging: str = "cowos-s"
    wafer_scale: bool = False
    # (units, units required, unit area fraction) for parts that route around defective units; None: no spares.
    harvest: tuple[float, float, float] | None = None
    # HBM capacity of the package in GB (0: the generation's typical stack capacity × stacks)
    hbm_gb: float = 0.0

    @property
    def hbm_gb_per_stack(self) -> float:
        return self.hbm_gb / self.hbm_stacks if self.hbm_stacks and self.hbm_gb else 0.0


def not_costable(acc: Accelerator, field: str) -> FieldError:
    """The one-line error for a catalog part that lacks a field costing needs."""
    return FieldError(f"accelerators.{acc.id}", f"not costable: {field} (missing from the catalog entry; "
                      "give --area-mm2 and --node to cost it by hand)", getattr(acc, field, None) or None)


def recipe_for(acc: Accelerator, cat: CostCatalog) -> ChipRecipe:
    """Cost recipe of a catalog accelerator: its die area, node, dies, HBM stacks and capacity, and the
    spare units it is sold without (``harvest`` in the cost catalog).

    Packaging is inferred: several logic dies → CoWoS-L, one die with HBM → CoWoS-S, else flip-chip BGA;
    wafer-scale family → wafer-scale. A part without die area, node or HBM generation raises
    "not costable: <field>".
    """
    for f in ("die_area_mm2", "process_node"):
        if not getattr(acc, f):
            raise not_costable(acc, f)
    try:
        node = cat.node_name(acc.process_node, "process_node")
    except FieldError:
        raise not_costable(acc, "process_node") from None
    if acc.hbm_stacks:
        try:
            cat.hbm_generation(acc.hbm_generation or "", "hbm_generation")
        except FieldError:
            raise not_costable(acc, "hbm_generation") from None
    ws = acc.family == "wafer-scale"
    pkg = "wafer-scale" if ws else "cowos-l" if acc.n_dies > 1 else "cowos-s" if acc.hbm_stacks else "fcbga"
    harvest = None
    dflt = cat.chip_defaults
    if ws and dflt.wafer_scale_units:
        n = dflt.wafer_scale_units
        harvest = (n, n * (1 - dflt.wafer_scale_spare_fraction), dflt.wafer_scale_unit_area_fraction)
    elif acc.id in cat.harvest:
        h = cat.harvest[acc.id]
        harvest = (float(h.units), float(h.units_enabled), central(h.unit_area_fraction))
    return ChipRecipe(die_area_mm2=acc.die_area_mm2, node=node, n_dies=acc.n_dies, hbm_stacks=acc.hbm_stacks,
                      hbm_generation=acc.hbm_generation or "HBM3", packaging=pkg, wafer_scale=ws, harvest=harvest,
                      hbm_gb=acc.hbm_bytes / GIB if acc.hbm_stacks else 0.0)


def chip_params(recipe: ChipRecipe, cat: CostCatalog) -> dict[str, Any]:
    """The catalog parameters of ``chip_cost`` for a recipe, uncertain ones left as triples/distributions
    (pass them to ``uncertainty.monte_carlo`` through ``chip_cost``'s overrides)."""
    node = cat.node(recipe.node, "node")
    hbm = cat.hbm_generation(recipe.hbm_generation, "hbm_generation") if recipe.hbm_stacks else None
    pk = cat.packaging_kind(recipe.packaging, "packaging")
    dflt = cat.chip_defaults
    gb = (recipe.hbm_gb_per_stack or hbm.stack_gb) if hbm else 0.0
    return {
        "wafer_price_usd": node.wafer_price_usd,
        "defect_density_per_cm2": node.defect_density_per_cm2,
        "hbm_usd_per_gb": hbm.usd_per_gb if hbm else 0.0,
        "hbm_gb_per_stack": gb,
        "packaging_usd": pk.cost_usd,
        "bond_yield_per_die": pk.bond_yield_per_die,
        "final_test_usd": cat.test.final_test_usd,
        "probe_usd_per_die": cat.test.wafer_probe_usd_per_die,
        "nre_usd": node.design_nre_usd,
        "volume_units": dflt.volume_units,
        "gross_margin": dflt.gross_margin,
        "alpha": dflt.alpha,
        "critical_layers": dflt.critical_layers,
        "yield_model": dflt.yield_model,
    }


def chip_cost(recipe: ChipRecipe, cat: CostCatalog, *, overrides: dict[str, Any] | None = None,
              harvest: tuple[float, float, float] | None = None) -> dict[str, Any]:
    """Manufacturing cost, NRE per unit and price of one accelerator from its recipe.

    Parameters come from the cost catalog (p50 of any uncertain value) unless ``overrides`` names them:
    ``wafer_price_usd``, ``defect_density_per_cm2``, ``hbm_usd_per_gb``, ``hbm_gb_per_stack``,
    ``hbm_stack_usd`` (a stack price outright), ``packaging_usd``,
    ``bond_yield_per_die``, ``final_test_usd``, ``nre_usd``, ``volume_units``, ``gross_margin``,
    ``alpha``, ``yield_model``. Overrides may be arrays (sweeps, Monte Carlo draws).
    ``harvest`` = (n_units, n_required, unit_area_fraction) enables partial-good dies.

    unit cost = Σ KGD + stacks · ($/GB · GB per stack) + package + assembly scrap + test + NRE / volume;
    price = unit cost / (1 − margin).
    """
    o = dict(overrides or {})
    harvest = harvest if harvest is not None else recipe.harvest
    g = cat.wafer
    check_die_area(recipe.die_area_mm2, n_dies=recipe.n_dies, wafer_scale=recipe.wafer_scale,
                   reticle_limit_mm2=g.reticle_limit_mm2, wafer_diameter_mm=g.diameter_mm,
                   edge_exclusion_mm=g.edge_exclusion_mm)
    p = {k: (central(v) if not isinstance(v, str) else v) for k, v in chip_params(recipe, cat).items()}
    unknown = set(o) - set(p) - {"hbm_stack_usd"}
    if unknown:
        raise FieldError("overrides", f"unknown parameter(s); allowed: {', '.join(sorted(p))}, hbm_stack_usd",
                         sorted(unknown))
    p.update(o)
    # HBM by the GB: a stack costs $/GB × GB per stack, unless a stack price is given outright
    stack_usd = o["hbm_stack_usd"] if "hbm_stack_usd" in o else (
        arr("hbm_usd_per_gb", p["hbm_usd_per_gb"]) * arr("hbm_gb_per_stack", p["hbm_gb_per_stack"]))
    model = p["yield_model"]
    if recipe.wafer_scale:
        n_units, n_req, frac = harvest or (1.0, 1.0, 0.0)
        y = redundant_yield(recipe.die_area_mm2, p["defect_density_per_cm2"], n_units=n_units, n_required=n_req,
                            unit_area_fraction=frac, model=model, alpha=p["alpha"],
                            critical_layers=p["critical_layers"])
        d = wafer_scale_die_cost(p["wafer_price_usd"], y, p["probe_usd_per_die"])
    else:
        y_over = None
        if harvest is not None:
            n_units, n_req, frac = harvest
            y_over = redundant_yield(recipe.die_area_mm2, p["defect_density_per_cm2"], n_units=n_units,
                                     n_required=n_req, unit_area_fraction=frac, model=model, alpha=p["alpha"],
                                     critical_layers=p["critical_layers"])
        d = die_cost(recipe.die_area_mm2, p["wafer_price_usd"], p["defect_density_per_cm2"], model=model,
                     alpha=p["alpha"], critical_layers=p["critical_layers"], wafer_diameter_mm=g.diameter_mm,
                     edge_exclusion_mm=g.edge_exclusion_mm, scribe_mm=g.scribe_mm,
                     probe_usd_per_die=p["probe_usd_per_die"], yield_override=y_over)
    pkg = package_cost(kgd_cost_usd=d["cost_per_good_die_usd"], n_dies=recipe.n_dies, hbm_stacks=recipe.hbm_stacks,
                       hbm_stack_usd=stack_usd, packaging_usd=p["packaging_usd"],
                       bond_yield_per_die=p["bond_yield_per_die"], final_test_usd=p["final_test_usd"])
    nre_u = nre_per_unit(p["nre_usd"], p["volume_units"])
    unit = np.asarray(pkg["manufacturing_cost_usd"]) + nre_u
    return {
        **{f"die_{k}": v for k, v in d.items()},
        **pkg,
        "hbm_stack_usd": out(arr("hbm_stack_usd", stack_usd)),
        "harvest": None if harvest is None else {"units": harvest[0], "units_enabled": harvest[1],
                                                 "unit_area_fraction": harvest[2]},
        "nre_usd": out(arr("nre_usd", p["nre_usd"])),
        "volume_units": out(arr("volume_units", p["volume_units"])),
        "nre_per_unit_usd": out(nre_u),
        "unit_cost_usd": out(unit),
        "gross_margin": out(arr("gross_margin", p["gross_margin"])),
        "price_usd": out(price_from_cost(unit, p["gross_margin"])),
    }
