"""Search configurations (picklable) and their translation into OR-Tools search parameters."""

from __future__ import annotations

from dataclasses import dataclass

from models.routing.problem import VRPProblem


@dataclass(frozen=True)
class SearchConfig:
    """One search configuration (picklable, goes to a worker process).

    ``first_solution``: an OR-Tools FirstSolutionStrategy name or ``"AUTO"``
    (PARALLEL_CHEAPEST_INSERTION, see :meth:`resolved_first_solution`).
    ``metaheuristic``: ``"ILS"`` (ruin-and-recreate through SolveWithIteratedLocalSearch) or
    ``"GLS"`` (guided local search via SolveWithParameters).
    ``sisr_*``: SISR ruin (average removed visits, max removed sequence, split bypass factor).
    ``acceptance``: ILS reference-solution acceptance: ``"greedy"`` or ``"sa"`` (simulated
    annealing, automatic temperatures unless ``sa_initial_temperature`` is set).
    ``inner``: local-search metaheuristic used inside ILS (GREEDY_DESCENT).
    ``lean_operators``: switch off the pickup-delivery and LNS operators.
    ``vehicle_cost_factor``: during the search only, add a cost per used vehicle of this factor
    times the mean depot-to-stop distance (steers towards fewer routes); the reported objective
    is always the problem's own (distance + fixed costs + drop penalties).
    ``ls_neighbors``: granular neighbourhoods, each local-search operator looks at this many
    nearest neighbours only (``ls_operator_neighbors_ratio``; measured worse, docs/routing.md).
    ``savings_neighbors`` / ``insertion_neighbors``: neighbour lists of the SAVINGS and
    PARALLEL_CHEAPEST_INSERTION first solutions (faster on large problems).
    ``ruins`` / ``ruin_composition``: ruin strategies of the ILS (``"sisr"``, ``"walk"`` random
    walk, ``"routes"`` spatially close routes) and how they combine (OR-Tools
    RuinCompositionStrategy name, e.g. ``"RUN_ONE_RANDOMLY"``).
    ``relax_chains``: search without the trip chains (``vehicle_chains``), then schedule each
    truck's trips one after the other and check the plan against the real problem (a plan that
    breaks a chain comes back with its violations and loses to a feasible one).
    """

    name: str = "ils-sisr"
    first_solution: str = "AUTO"
    metaheuristic: str = "ILS"
    sisr_avg_removed: int = 15
    sisr_max_sequence: int = 10
    sisr_bypass_factor: float = 0.01
    recreate: str = "LOCAL_CHEAPEST_INSERTION"
    acceptance: str = "greedy"
    sa_initial_temperature: float | None = None
    sa_final_temperature: float | None = None
    inner: str = "GREEDY_DESCENT"
    lean_operators: bool = True
    route_selection_min_neighbors: int | None = None
    route_selection_max_neighbors: int | None = None
    gls_lambda: float | None = None
    vehicle_cost_factor: float = 0.0
    ls_neighbors: int | None = None
    savings_neighbors: int | None = None
    insertion_neighbors: int | None = None
    ruins: tuple[str, ...] = ("sisr",)
    ruin_composition: str | None = None
    relax_chains: bool = False

    def resolved_first_solution(self, has_time_windows: bool) -> str:
        """AUTO = PARALLEL_CHEAPEST_INSERTION: measured better than PATH_CHEAPEST_ARC on CVRP
        too (mean gap 1.05 % vs 1.55 % at 30 s) and the README's choice with time windows."""
        if self.first_solution != "AUTO":
            return self.first_solution
        return "PARALLEL_CHEAPEST_INSERTION"


def default_configs(problem: VRPProblem | None = None) -> list[SearchConfig]:
    """The two configurations :func:`solve` runs side by side for ``problem``.

    Plain CVRP / VRPTW: :data:`DEFAULT_CONFIGS` (chosen by measurement, see below). With
    disposal facilities: :data:`DISPOSAL_CONFIGS`, because the savings heuristic finds no first
    solution when trucks must reload (it cannot place the optional, zero-penalty disposal visits).

    With trip chains (one truck's trips one after the other: every waste collection plan with
    two streams or more): :data:`CHAIN_CONFIGS`. The chain is a constraint that OR-Tools'
    local-search filters do not see, so the insertion heuristics (the first solution and the ILS
    recreate step, run at every iteration) build plans the constraint then rejects and fall back
    to a slow search: on the simulated demo day (57 bins, 3 trucks x 4 streams, 12 trip vehicles)
    one parallel-insertion first solution took 19 CPU s and the ILS made fewer than 50 solutions
    in 34 CPU s (`make run` waited for its 300 s safety net); the same ILS without the chains made
    1,000 in 3.7 CPU s. So the ILS searches with the chains relaxed (``relax_chains``) and its plan
    is balanced, scheduled and checked against them afterwards, beside guided local search from
    the empty plan on the full model (1,000 solutions in 5.5 CPU s on the demo day, but it cannot
    insert stops that need a reload); :data:`CHAIN_FALLBACK` runs after them only when they fall
    short (see ``search._chain_fallback``).
    """
    if problem is not None and problem.vehicle_chains:
        return list(CHAIN_CONFIGS)
    if problem is not None and problem.disposal_nodes:
        return list(DISPOSAL_CONFIGS)
    return list(DEFAULT_CONFIGS)


# Chosen by measurement (bench/vrp_bench.py --single ..., 30 s, one process per run, 8 CVRP +
# 3 Solomon instances, load average 4-6 on the 2-core machine). Single runs, mean gap CVRP /
# Solomon: PATH_CHEAPEST_ARC first solution 1.55 / 0.57 %, PARALLEL_CHEAPEST_INSERTION 1.05 /
# 0.30 %, SAVINGS 1.09 / 0.17 %, PCI with SISR ruin 25 (max sequence 15) 1.05 / 0.02 %; the
# first solution mattered more than the ruin size or the acceptance (simulated annealing
# 1.52 vs greedy 1.55). Best of two over all 66 pairs of 12 measured configurations: SAVINGS +
# PCI/SISR-25 0.63 / 0.02 % (next: 0.74, 0.75, 0.77).
DEFAULT_CONFIGS: tuple[SearchConfig, ...] = (
    SearchConfig(name="ils-savings-sisr15", first_solution="SAVINGS", sisr_avg_removed=15, sisr_max_sequence=10),
    SearchConfig(name="ils-pci-sisr25", first_solution="PARALLEL_CHEAPEST_INSERTION", sisr_avg_removed=25,
                 sisr_max_sequence=15),
)

# With reload trips: the ILS on an insertion first solution plus guided local search (a
# different search, robust when the ILS recreate step cannot insert a stop that needs a reload).
DISPOSAL_CONFIGS: tuple[SearchConfig, ...] = (
    DEFAULT_CONFIGS[1],
    SearchConfig(name="gls-pci", first_solution="PARALLEL_CHEAPEST_INSERTION", metaheuristic="GLS"),
)

# With trip chains (see default_configs): the ILS on the problem without its chains (scheduled and
# checked afterwards) beside guided local search from the empty plan on the full model; GLS from
# parallel insertion on the full model (minutes at 250 stops) only when both fall short.
CHAIN_CONFIGS: tuple[SearchConfig, ...] = (
    SearchConfig(name="ils-pci-sisr25-relaxed-chains", first_solution="PARALLEL_CHEAPEST_INSERTION",
                 sisr_avg_removed=25, sisr_max_sequence=15, relax_chains=True),
    SearchConfig(name="gls-empty", first_solution="ALL_UNPERFORMED", metaheuristic="GLS"),
)
CHAIN_FALLBACK = DISPOSAL_CONFIGS[1]

# how long past the deadline a spawned search may take to report (start-up under load, pickling)
# before it is given up and stopped
WORKER_GRACE_S = 60.0

FALLBACK_CONFIG = SearchConfig(name="fallback-gls-pci", first_solution="PARALLEL_CHEAPEST_INSERTION",
                               metaheuristic="GLS")


_PD_OPERATORS = (
    "use_relocate_pair", "use_light_relocate_pair", "use_exchange_pair", "use_relocate_subtrip",
    "use_exchange_subtrip", "use_node_pair_swap_active",
)
_LNS_OPERATORS = (
    "use_global_cheapest_insertion_path_lns", "use_local_cheapest_insertion_path_lns",
    "use_relocate_path_global_cheapest_insertion_insert_unperformed",
    "use_global_cheapest_insertion_visit_types_lns", "use_local_cheapest_insertion_visit_types_lns",
    "use_global_cheapest_insertion_expensive_chain_lns", "use_local_cheapest_insertion_expensive_chain_lns",
    "use_global_cheapest_insertion_close_nodes_lns", "use_local_cheapest_insertion_close_nodes_lns",
    "use_path_lns", "use_full_path_lns", "use_tsp_lns", "use_inactive_lns",
)


def ils_available() -> bool:
    """True when this OR-Tools exposes SolveWithIteratedLocalSearch and the ILS parameters."""
    from ortools.constraint_solver import pywrapcp

    params = pywrapcp.DefaultRoutingSearchParameters()
    return hasattr(pywrapcp.RoutingModel, "SolveWithIteratedLocalSearch") and hasattr(
        params, "iterated_local_search_parameters"
    )


def build_search_parameters(cfg: SearchConfig, time_limit_s: float, has_time_windows: bool,
                            solution_limit: int | None = None, num_nodes: int = 0):
    """Turn a :class:`SearchConfig` into OR-Tools ``RoutingSearchParameters`` (with
    ``solution_limit``, the deterministic bound; ``time_limit_s`` stays as the wall-clock net)."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2
    from ortools.util import optional_boolean_pb2

    fss = routing_enums_pb2.FirstSolutionStrategy
    lsm = routing_enums_pb2.LocalSearchMetaheuristic
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = fss.Value.Value(cfg.resolved_first_solution(has_time_windows))
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    if solution_limit is not None:
        params.solution_limit = max(1, int(solution_limit))
    n = max(1, num_nodes)
    if cfg.ls_neighbors is not None:
        params.ls_operator_neighbors_ratio = min(1.0, cfg.ls_neighbors / n)
        params.ls_operator_min_neighbors = cfg.ls_neighbors
    if cfg.savings_neighbors is not None:
        params.savings_parameters.neighbors_ratio = min(1.0, cfg.savings_neighbors / n)
    if cfg.insertion_neighbors is not None:
        gci = params.global_cheapest_insertion_first_solution_parameters
        gci.neighbors_ratio = min(1.0, cfg.insertion_neighbors / n)
        gci.min_neighbors = cfg.insertion_neighbors
    ops = params.local_search_operators
    if cfg.lean_operators:
        for name in _PD_OPERATORS + _LNS_OPERATORS:
            if hasattr(ops, name):
                setattr(ops, name, optional_boolean_pb2.BOOL_FALSE)
    if cfg.metaheuristic == "ILS" and ils_available():
        from ortools.constraint_solver import routing_ils_pb2

        params.use_iterated_local_search = True
        params.local_search_metaheuristic = lsm.Value.Value(cfg.inner)
        ils = params.iterated_local_search_parameters
        ils.perturbation_strategy = routing_ils_pb2.PerturbationStrategy.RUIN_AND_RECREATE
        ils.improve_perturbed_solution = True
        rr = ils.ruin_recreate_parameters
        del rr.ruin_strategies[:]
        for ruin in cfg.ruins:
            if ruin == "sisr":
                sisr = rr.ruin_strategies.add().sisr
                sisr.avg_num_removed_visits = cfg.sisr_avg_removed
                sisr.max_removed_sequence_size = cfg.sisr_max_sequence
                sisr.bypass_factor = cfg.sisr_bypass_factor
            elif ruin == "walk":
                rr.ruin_strategies.add().random_walk.num_removed_visits = cfg.sisr_avg_removed
            elif ruin == "routes":
                rr.ruin_strategies.add().spatially_close_routes.num_ruined_routes = 2
            else:
                raise ValueError(f"unknown ruin {ruin!r}")
        if cfg.ruin_composition is not None:
            rr.ruin_composition_strategy = routing_ils_pb2.RuinCompositionStrategy.Value.Value(cfg.ruin_composition)
        rr.recreate_strategy.heuristic = fss.Value.Value(cfg.recreate)
        if cfg.route_selection_min_neighbors is not None:
            rr.route_selection_min_neighbors = cfg.route_selection_min_neighbors
        if cfg.route_selection_max_neighbors is not None:
            rr.route_selection_max_neighbors = cfg.route_selection_max_neighbors
        acc = ils.reference_solution_acceptance_strategy
        acc.Clear()
        if cfg.acceptance == "greedy":
            acc.greedy_descent.SetInParent()
        elif cfg.acceptance == "sa":
            sa = acc.simulated_annealing
            sa.cooling_schedule_strategy = routing_ils_pb2.CoolingScheduleStrategy.EXPONENTIAL
            if cfg.sa_initial_temperature is None:
                sa.automatic_temperatures = True
            else:
                sa.initial_temperature = cfg.sa_initial_temperature
                sa.final_temperature = cfg.sa_final_temperature or cfg.sa_initial_temperature / 1000
        else:
            raise ValueError(f"unknown acceptance {cfg.acceptance!r}")
        ils.best_solution_acceptance_strategy.Clear()
        ils.best_solution_acceptance_strategy.greedy_descent.SetInParent()
    else:
        params.local_search_metaheuristic = lsm.GUIDED_LOCAL_SEARCH
        if cfg.gls_lambda is not None:
            params.guided_local_search_lambda_coefficient = cfg.gls_lambda
    return params


# --------------------------------------------------------------------------------------------
