"""Families in Telecommunications Engineering and Electrical Engineering."""

from __future__ import annotations

import random

from dta_edge.records import Difficulty
from dta_edge.tasks.telecom import formulas as f
from dta_edge.tasks.telecom._common import Family, FamilyProblem, fmt, pick, uniform

TE = "Telecommunications Engineering"
EE = "Electrical Engineering"

FREQS_MHZ = (700, 900, 1800, 2100, 2400, 3500, 5800)


def fspl_link_budget(rng: random.Random, level: Difficulty) -> FamilyProblem:
    freq, dist = pick(rng, FREQS_MHZ), uniform(rng, 0.2, 40.0, 1)
    loss = f.fspl_db(dist, freq)
    step1 = f"FSPL = 20log10({fmt(dist)}) + 20log10({freq}) + 32.44 = {fmt(loss)} dB."
    if level == "basic":
        q = f"A {freq} MHz radio link spans {fmt(dist)} km in free space. What is the free-space path loss in dB?"
        return FamilyProblem(q, loss, "dB", (step1,), "Apply the free-space path loss formula.")
    pt, gt, gr, cable = (
        pick(rng, (20, 27, 30, 33, 43)),
        uniform(rng, 0, 18, 0),
        uniform(rng, 0, 12, 0),
        uniform(rng, 0.5, 4.0, 1),
    )
    pr = f.received_power_dbm(pt, gt, gr, loss, cable)
    q = (
        f"A {freq} MHz transmitter sends {pt} dBm through a {fmt(gt)} dBi antenna to a receiver "
        f"{fmt(dist)} km away with a {fmt(gr)} dBi antenna. Cable losses total {fmt(cable)} dB. "
        "Assuming free-space propagation, what is the received power in dBm?"
    )
    step2 = f"Pr = {pt} + {fmt(gt)} + {fmt(gr)} - {fmt(loss)} - {fmt(cable)} = {fmt(pr)} dBm."
    return FamilyProblem(
        q, pr, "dBm", (step1, step2), "Compute free-space path loss, then sum the link budget."
    )


def link_budget(rng: random.Random, level: Difficulty) -> FamilyProblem:
    pt, gt, gr = pick(rng, (10, 20, 23, 27, 30, 33, 40, 43)), rng.randint(0, 20), rng.randint(0, 15)
    loss = rng.randint(60, 150)
    pr = pt + gt + gr - loss
    step1 = f"Pr = Pt + Gt + Gr - L = {pt} + {gt} + {gr} - {loss} = {pr} dBm."
    base = (
        f"A transmitter outputs {pt} dBm into a {gt} dBi antenna. The receive antenna gain is {gr} dBi "
        f"and the path loss is {loss} dB."
    )
    if level == "basic":
        return FamilyProblem(
            base + " What is the received power in dBm?",
            pr,
            "dBm",
            (step1,),
            "Add the gains to the transmit power and subtract the loss.",
        )
    sensitivity = rng.randint(-120, -70)
    margin = pr - sensitivity
    q = base + f" The receiver sensitivity is {sensitivity} dBm. What is the link margin in dB?"
    steps = (step1, f"Margin = Pr - S = {pr} - ({sensitivity}) = {margin} dB.")
    return FamilyProblem(
        q, margin, "dB", steps, "Compute the received power, then subtract the sensitivity."
    )


def okumura_hata(rng: random.Random, level: Difficulty) -> FamilyProblem:
    freq = pick(rng, (450, 700, 800, 900, 1200, 1500))
    hb, hm, dist = (
        pick(rng, (30, 40, 50, 60, 80, 100)),
        pick(rng, (1.5, 2.0, 3.0)),
        uniform(rng, 1.0, 20.0, 1),
    )
    a_hm = f.hata_mobile_correction_db(freq, hm)
    loss = f.okumura_hata_urban_db(freq, hb, hm, dist)
    steps = [
        f"a(hm) = (1.1log10({freq}) - 0.7)*{fmt(hm)} - (1.56log10({freq}) - 0.8) = {fmt(a_hm)} dB.",
        f"L = 69.55 + 26.16log10({freq}) - 13.82log10({hb}) - {fmt(a_hm)} + "
        f"(44.9 - 6.55log10({hb}))log10({fmt(dist)}) = {fmt(loss)} dB.",
    ]
    base = (
        f"Use the Okumura-Hata model for a medium-sized city: f = {freq} MHz, base station height "
        f"{hb} m, mobile height {fmt(hm)} m, distance {fmt(dist)} km."
    )
    if level == "basic":
        return FamilyProblem(
            base + " What is the median path loss in dB?",
            loss,
            "dB",
            tuple(steps),
            "Apply the Okumura-Hata urban formula.",
        )
    eirp = pick(rng, (43, 46, 50, 55))
    pr = eirp - loss
    steps.append(f"Pr = {eirp} - {fmt(loss)} = {fmt(pr)} dBm.")
    q = (
        base
        + f" The EIRP is {eirp} dBm and the mobile antenna gain is 0 dBi. What is the received power in dBm?"
    )
    return FamilyProblem(
        q,
        pr,
        "dBm",
        tuple(steps),
        "Compute Okumura-Hata path loss, then subtract it from the EIRP.",
    )


CQI_THRESHOLDS_DB = (
    -6.7,
    -4.7,
    -2.3,
    0.2,
    2.4,
    4.3,
    5.9,
    8.1,
    10.3,
    11.7,
    14.1,
    16.3,
    18.7,
    21.0,
    22.7,
)


def cqi_mcs_selection(rng: random.Random, level: Difficulty) -> FamilyProblem:
    snr = uniform(rng, -4.0, 24.0, 1)
    cqi = f.select_cqi(snr, CQI_THRESHOLDS_DB)
    low = max(1, min(cqi - 2, len(f.CQI_TABLE) - 4))
    rows = "; ".join(
        f"CQI {i}: {CQI_THRESHOLDS_DB[i - 1]} dB, {f.CQI_TABLE[i - 1][2]} b/s/Hz"
        for i in range(low, low + 5)
    )
    efficiency = f.CQI_TABLE[cqi - 1][2]
    steps = [
        f"The highest CQI whose threshold is at most {fmt(snr)} dB is CQI {cqi}.",
        f"CQI {cqi} gives {efficiency} b/s/Hz.",
    ]
    table = f"Excerpt of the CQI table (CQI: minimum SNR, spectral efficiency): {rows}."
    if level == "basic":
        q = f"A UE measures an SNR of {fmt(snr)} dB. {table} Which spectral efficiency in b/s/Hz does the scheduler use?"
        return FamilyProblem(
            q,
            efficiency,
            "b/s/Hz",
            tuple(steps),
            "Pick the highest CQI whose SNR threshold is met.",
        )
    bw, overhead = pick(rng, (5, 10, 15, 20)), pick(rng, (10, 15, 20, 25))
    rate = efficiency * bw * (1 - overhead / 100)
    steps.append(f"R = {efficiency} * {bw} MHz * (1 - {overhead / 100:g}) = {fmt(rate)} Mbps.")
    q = (
        f"A UE measures an SNR of {fmt(snr)} dB on a {bw} MHz carrier with {overhead}% control overhead. "
        f"{table} What is the resulting throughput in Mbps?"
    )
    return FamilyProblem(
        q,
        rate,
        "Mbps",
        tuple(steps),
        "Select the CQI, then multiply efficiency, bandwidth and payload share.",
    )


def power_control(rng: random.Random, level: Difficulty) -> FamilyProblem:
    while True:
        g11, g22 = uniform(rng, 0.5, 1.0, 2), uniform(rng, 0.5, 1.0, 2)
        g12, g21 = uniform(rng, 0.01, 0.2, 2), uniform(rng, 0.01, 0.2, 2)
        target_db = pick(rng, (3, 5, 6, 7, 8, 10))
        gamma = f.db_to_linear(target_db)
        radius, (p1, _) = f.power_control_two_links([[g11, g12], [g21, g22]], [gamma, gamma], 1e-3)
        if radius < 0.9 or level == "basic":
            break
    f12, f21 = gamma * g12 / g11, gamma * g21 / g22
    gains = f"G11 = {g11}, G12 = {g12}, G21 = {g21}, G22 = {g22}"
    steps = [
        f"gamma = 10^({target_db}/10) = {fmt(gamma)}.",
        f"F12 = gamma*G12/G11 = {fmt(f12)}, F21 = gamma*G21/G22 = {fmt(f21)}.",
        f"rho(F) = sqrt(F12*F21) = {fmt(radius)}.",
    ]
    base = f"Two links share a channel with gains {gains} (Gij: from transmitter j to receiver i). Both need SINR {target_db} dB."
    if level == "basic":
        q = (
            base
            + " What is the spectral radius of the normalized interference matrix F (feasible if below 1)?"
        )
        return FamilyProblem(
            q,
            radius,
            "",
            tuple(steps),
            "Build F from the targets and gains; its spectral radius decides feasibility.",
        )
    u1, u2 = gamma * 1e-3 / g11, gamma * 1e-3 / g22
    steps.append(
        f"u1 = {fmt(u1 * 1e3)} mW, u2 = {fmt(u2 * 1e3)} mW; P1 = (u1 + F12*u2)/(1 - F12*F21) = {fmt(p1 * 1e3)} mW."
    )
    q = (
        base
        + " Receiver noise is 1 mW. What minimum transmit power of link 1 in mW meets both targets?"
    )
    return FamilyProblem(
        q,
        p1 * 1e3,
        "mW",
        tuple(steps),
        "Check feasibility with the spectral radius, then solve (I - F)P = u.",
    )


def friis_noise_cascade(rng: random.Random, level: Difficulty) -> FamilyProblem:
    count = 2 if level == "basic" else 3
    stages = [(uniform(rng, 0.5, 3.0, 1), pick(rng, (10, 12, 15, 20)))]
    stages += [(uniform(rng, 3.0, 12.0, 1), pick(rng, (-6, 0, 10, 20))) for _ in range(count - 1)]
    nf = f.friis_noise_figure_db(stages)
    described = ", ".join(
        f"stage {i}: NF {fmt(n)} dB, gain {g} dB" for i, (n, g) in enumerate(stages, 1)
    )
    factors = [f.db_to_linear(n) for n, _ in stages]
    total = f.db_to_linear(nf)
    steps = (
        "Linear noise factors: "
        + ", ".join(f"F{i} = {fmt(x)}" for i, x in enumerate(factors, 1))
        + ".",
        f"F = F1 + (F2 - 1)/G1{' + (F3 - 1)/(G1*G2)' if count == 3 else ''} = {fmt(total)}.",
        f"NF = 10log10({fmt(total)}) = {fmt(nf)} dB.",
    )
    q = f"A receiver chain has {count} stages in cascade ({described}). What is the overall noise figure in dB?"
    return FamilyProblem(
        q, nf, "dB", steps, "Convert to linear noise factors and apply the Friis cascade formula."
    )


def thermal_noise_floor(rng: random.Random, level: Difficulty) -> FamilyProblem:
    bw_mhz = pick(rng, (0.2, 1.0, 1.4, 5.0, 10.0, 20.0, 100.0))
    ktb = f.thermal_noise_dbm(bw_mhz * 1e6)
    step1 = f"kTB = -173.98 + 10log10({fmt(bw_mhz * 1e6)}) = {fmt(ktb)} dBm."
    if level == "basic":
        q = f"What is the thermal noise power in dBm at 290 K over a {fmt(bw_mhz)} MHz bandwidth?"
        return FamilyProblem(
            q, ktb, "dBm", (step1,), "Thermal noise is kTB; in dBm, -174 dBm/Hz plus 10log10(B)."
        )
    nf, snr = uniform(rng, 2.0, 9.0, 1), uniform(rng, -3.0, 20.0, 1)
    sens = f.receiver_sensitivity_dbm(bw_mhz * 1e6, nf, snr)
    q = (
        f"A receiver at 290 K has a {fmt(bw_mhz)} MHz bandwidth, a noise figure of {fmt(nf)} dB and needs "
        f"an SNR of {fmt(snr)} dB. What is its sensitivity in dBm?"
    )
    steps = (step1, f"S = {fmt(ktb)} + {fmt(nf)} + {fmt(snr)} = {fmt(sens)} dBm.")
    return FamilyProblem(
        q, sens, "dBm", steps, "Sensitivity = thermal noise floor + noise figure + required SNR."
    )


def rc_lowpass(rng: random.Random, level: Difficulty) -> FamilyProblem:
    r_ohm, c_nf = (
        pick(rng, (100, 220, 470, 1000, 2200, 4700, 10000)),
        pick(rng, (1, 10, 22, 47, 100, 220)),
    )
    fc = f.rc_cutoff_hz(r_ohm, c_nf * 1e-9)
    step1 = f"fc = 1/(2*pi*{r_ohm}*{c_nf}e-9) = {fmt(fc)} Hz."
    base = f"A first-order RC low-pass filter uses R = {r_ohm} ohm and C = {c_nf} nF."
    if level == "basic":
        return FamilyProblem(
            base + " What is its -3 dB cutoff frequency in Hz?",
            fc,
            "Hz",
            (step1,),
            "fc = 1/(2 pi R C).",
        )
    ratio = pick(rng, (2, 3, 5, 10))
    freq = fc * ratio
    gain = f.rc_lowpass_gain_db(freq, fc)
    q = base + f" What is its gain in dB at {fmt(freq)} Hz?"
    steps = (step1, f"f/fc = {ratio}; G = -10log10(1 + {ratio}^2) = {fmt(gain)} dB.")
    return FamilyProblem(
        q, gain, "dB", steps, "Find the cutoff, then use |H|^2 = 1/(1 + (f/fc)^2)."
    )


FAMILIES_RADIO: tuple[Family, ...] = (
    Family("link-budget", TE, link_budget),
    Family("fspl-link-budget", TE, fspl_link_budget),
    Family("okumura-hata", TE, okumura_hata),
    Family("cqi-mcs-selection", TE, cqi_mcs_selection),
    Family("power-control", TE, power_control),
    Family("friis-noise-cascade", EE, friis_noise_cascade),
    Family("thermal-noise-floor", EE, thermal_noise_floor),
    Family("rc-lowpass", EE, rc_lowpass),
)
