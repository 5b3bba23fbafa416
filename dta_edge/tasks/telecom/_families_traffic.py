"""Families in Probability & Statistics, Operations Research and Computer Networking."""

from __future__ import annotations

import random

from dta_edge.records import Difficulty
from dta_edge.tasks.telecom import formulas as f
from dta_edge.tasks.telecom._common import Family, FamilyProblem, fmt, pick, uniform

PS = "Probability & Statistics"
OR = "Operations Research"
CN = "Computer Networking"


def rayleigh_outage(rng: random.Random, level: Difficulty) -> FamilyProblem:
    mean_db, threshold_db = uniform(rng, 5.0, 25.0, 0), uniform(rng, 0.0, 10.0, 0)
    ratio = f.db_to_linear(threshold_db) / f.db_to_linear(mean_db)
    single = f.rayleigh_outage(f.db_to_linear(threshold_db), f.db_to_linear(mean_db))
    steps = [
        f"gth/gbar = 10^(({fmt(threshold_db)} - {fmt(mean_db)})/10) = {fmt(ratio)}.",
        f"Pout = 1 - exp(-{fmt(ratio)}) = {fmt(single)}.",
    ]
    base = f"A Rayleigh fading link has average SNR {fmt(mean_db)} dB and the receiver needs at least {fmt(threshold_db)} dB."
    if level == "basic":
        return FamilyProblem(
            base + " What is the outage probability?",
            single,
            "",
            tuple(steps),
            "Pout = 1 - exp(-threshold/mean SNR).",
            rel_tol=0.02,
        )
    branches = pick(rng, (2, 3, 4))
    outage = f.selection_combining_outage(
        f.db_to_linear(threshold_db), f.db_to_linear(mean_db), branches
    )
    steps.append(
        f"With selection combining over {branches} branches: Pout = {fmt(single)}^{branches} = {fmt(outage)}."
    )
    q = (
        base
        + f" With selection combining of {branches} independent branches, what is the outage probability?"
    )
    return FamilyProblem(
        q,
        outage,
        "",
        tuple(steps),
        "Outage needs every branch in outage: raise the single-branch outage to L.",
        rel_tol=0.02,
    )


def poisson_arrivals(rng: random.Random, level: Difficulty) -> FamilyProblem:
    rate, window = pick(rng, (0.5, 1, 2, 3, 5)), pick(rng, (1, 2, 4))
    mean = rate * window
    k = rng.randint(0, 6)
    base = f"Packets arrive as a Poisson process at {fmt(rate)} per second. Over {window} s"
    if level == "basic":
        p = f.poisson_pmf(k, mean)
        steps = (
            f"Mean count = {fmt(rate)}*{window} = {fmt(mean)}.",
            f"P(N = {k}) = e^-{fmt(mean)} * {fmt(mean)}^{k}/{k}! = {fmt(p)}.",
        )
        return FamilyProblem(
            base + f", what is the probability of exactly {k} arrivals?",
            p,
            "",
            steps,
            "Poisson pmf with mean rate times window.",
        )
    p = f.poisson_cdf(k, mean)
    steps = (
        f"Mean count = {fmt(mean)}.",
        f"P(N <= {k}) = sum over i = 0..{k} of e^-{fmt(mean)} {fmt(mean)}^i/i! = {fmt(p)}.",
    )
    return FamilyProblem(
        base + f", what is the probability of at most {k} arrivals?",
        p,
        "",
        steps,
        "Sum the Poisson pmf up to k.",
    )


def erlang_b_blocking(rng: random.Random, level: Difficulty) -> FamilyProblem:
    servers = rng.randint(2, 30)
    traffic = uniform(rng, 0.3 * servers, 1.1 * servers, 1)
    blocking = f.erlang_b(traffic, servers)
    step1 = f"B(N={servers}, A={fmt(traffic)}) by the recursion B(k) = A B(k-1)/(k + A B(k-1)) = {fmt(blocking)}."
    base = f"A trunk group of {servers} circuits is offered {fmt(traffic)} Erlang of traffic."
    if level == "basic":
        return FamilyProblem(
            base + " What is the Erlang-B blocking probability?",
            blocking,
            "",
            (step1,),
            "Erlang-B formula via its recursion.",
        )
    carried = f.carried_traffic_erlang(traffic, servers)
    steps = (step1, f"Carried = {fmt(traffic)}*(1 - {fmt(blocking)}) = {fmt(carried)} Erlang.")
    return FamilyProblem(
        base + " How much traffic in Erlang is carried?",
        carried,
        "Erlang",
        steps,
        "Carried traffic = offered x (1 - blocking).",
    )


def mm1_delay(rng: random.Random, level: Difficulty) -> FamilyProblem:
    if level == "basic":
        mu = pick(rng, (10, 20, 50, 100, 250, 1000))
        lam = round(mu * uniform(rng, 0.3, 0.95, 2), 1)
        t = f.mm1_time_in_system_s(lam, mu)
        q = f"An M/M/1 queue has arrival rate {fmt(lam)} packets/s and service rate {mu} packets/s. What is the mean time in the system in ms?"
        return FamilyProblem(
            q,
            t * 1e3,
            "ms",
            (f"T = 1/({mu} - {fmt(lam)}) = {fmt(t * 1e3)} ms.",),
            "M/M/1 sojourn time 1/(mu - lambda).",
        )
    bits, rate_mbps = pick(rng, (1000, 4000, 8000, 12000)), pick(rng, (1, 2, 10, 100))
    mu = rate_mbps * 1e6 / bits
    lam = round(mu * uniform(rng, 0.3, 0.95, 2), 1)
    rho = lam / mu
    n = f.mm1_mean_number(rho)
    q = (
        f"Packets of {bits} bits (exponentially distributed) arrive at a {rate_mbps} Mbps link at {fmt(lam)} packets/s. "
        "Modelling it as M/M/1, what is the mean number of packets in the system?"
    )
    steps = (
        f"mu = {rate_mbps}e6/{bits} = {fmt(mu)} packets/s; rho = {fmt(rho)}.",
        f"L = rho/(1 - rho) = {fmt(n)}.",
    )
    return FamilyProblem(
        q, n, "packets", steps, "Service rate = link rate / packet size; L = rho/(1 - rho)."
    )


def mmc_wait(rng: random.Random, level: Difficulty) -> FamilyProblem:
    servers, mu = rng.randint(2, 8), pick(rng, (1, 2, 5, 10))
    lam = round(servers * mu * uniform(rng, 0.4, 0.9, 2), 2)
    traffic = lam / mu
    wait_prob = f.erlang_c(traffic, servers)
    step1 = f"A = {fmt(lam)}/{mu} = {fmt(traffic)} Erlang; Erlang C: P(wait) = {fmt(wait_prob)}."
    base = f"An M/M/{servers} system has arrival rate {fmt(lam)} per second and service rate {mu} per second per server."
    if level == "basic":
        return FamilyProblem(
            base + " What is the probability that an arrival has to wait?",
            wait_prob,
            "",
            (step1,),
            "Erlang C formula.",
        )
    wq = f.mmc_waiting_time_s(lam, mu, servers)
    steps = (step1, f"Wq = {fmt(wait_prob)}/({servers}*{mu} - {fmt(lam)}) = {fmt(wq * 1e3)} ms.")
    return FamilyProblem(
        base + " What is the mean waiting time in queue in ms?",
        wq * 1e3,
        "ms",
        steps,
        "Wq = C(c, A)/(c mu - lambda).",
    )


def tcp_mathis(rng: random.Random, level: Difficulty) -> FamilyProblem:
    mss, rtt_ms = pick(rng, (536, 1220, 1460, 8960)), pick(rng, (10, 20, 40, 80, 100, 150, 250))
    if level == "basic":
        loss = pick(rng, (1e-2, 5e-3, 1e-3, 1e-4, 1e-5))
        bw = f.mathis_tcp_throughput_bps(mss, rtt_ms / 1e3, loss) / 1e6
        q = f"Using the Mathis model, what TCP throughput in Mbps is achievable with MSS {mss} bytes, RTT {rtt_ms} ms and loss rate {fmt(loss)}?"
        steps = (f"BW = ({mss}*8/{rtt_ms / 1e3:g}) * 1.2247/sqrt({fmt(loss)}) = {fmt(bw)} Mbps.",)
        return FamilyProblem(q, bw, "Mbps", steps, "BW = (MSS/RTT) * sqrt(3/2)/sqrt(p).")
    target = pick(rng, (1, 5, 10, 50, 100))
    loss = f.mathis_max_loss(mss, rtt_ms / 1e3, target * 1e6)
    q = f"By the Mathis model, what is the highest loss rate that still allows {target} Mbps of TCP throughput with MSS {mss} bytes and RTT {rtt_ms} ms?"
    steps = (
        f"p = (MSS*8*1.2247/(RTT*BW))^2 = ({mss}*8*1.2247/({rtt_ms / 1e3:g}*{target}e6))^2 = {fmt(loss)}.",
    )
    return FamilyProblem(q, loss, "", steps, "Invert the Mathis formula for p.", rel_tol=0.02)


def packet_delay(rng: random.Random, level: Difficulty) -> FamilyProblem:
    size_bytes, rate_mbps, dist_km = (
        pick(rng, (64, 500, 1000, 1500, 9000)),
        pick(rng, (1, 10, 100, 1000)),
        pick(rng, (1, 50, 200, 1000, 4000)),
    )
    tx_ms = size_bytes * 8 / (rate_mbps * 1e6) * 1e3
    prop_ms = dist_km * 1e3 / 2e8 * 1e3
    if level == "basic":
        total = f.packet_delay_s(size_bytes * 8, rate_mbps * 1e6, dist_km * 1e3) * 1e3
        q = f"A {size_bytes}-byte packet crosses a {rate_mbps} Mbps link {dist_km} km long (propagation 2e8 m/s). What is the total delay in ms?"
        steps = (
            f"Transmission = {size_bytes}*8/{rate_mbps}e6 = {fmt(tx_ms)} ms.",
            f"Propagation = {dist_km}e3/2e8 = {fmt(prop_ms)} ms.",
            f"Total = {fmt(total)} ms.",
        )
        return FamilyProblem(q, total, "ms", steps, "Delay = L/R + d/s.")
    hops = pick(rng, (2, 3, 4, 5))
    total = f.store_and_forward_delay_s(size_bytes * 8, rate_mbps * 1e6, hops, dist_km * 1e3) * 1e3
    q = (
        f"A {size_bytes}-byte packet crosses {hops} store-and-forward links of {rate_mbps} Mbps each; the total path is "
        f"{dist_km} km (propagation 2e8 m/s). Ignoring processing and queueing, what is the end-to-end delay in ms?"
    )
    steps = (
        f"Transmission per link = {fmt(tx_ms)} ms; {hops} links give {fmt(hops * tx_ms)} ms.",
        f"Propagation = {fmt(prop_ms)} ms.",
        f"Total = {fmt(total)} ms.",
    )
    return FamilyProblem(q, total, "ms", steps, "Store-and-forward: N L/R plus total propagation.")


FAMILIES_TRAFFIC: tuple[Family, ...] = (
    Family("rayleigh-outage", PS, rayleigh_outage),
    Family("poisson-arrivals", PS, poisson_arrivals),
    Family("erlang-b", OR, erlang_b_blocking),
    Family("mm1-delay", OR, mm1_delay),
    Family("mmc-wait", OR, mmc_wait),
    Family("tcp-mathis", CN, tcp_mathis),
    Family("packet-delay", CN, packet_delay),
)
