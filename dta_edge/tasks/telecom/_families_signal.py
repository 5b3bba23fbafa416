"""Families in Signal Processing and Information Theory."""

from __future__ import annotations

import random

from dta_edge.records import Difficulty
from dta_edge.tasks.telecom import formulas as f
from dta_edge.tasks.telecom._common import Family, FamilyProblem, fmt, pick, uniform

SP = "Signal Processing"
IT = "Information Theory"


def quantization_sqnr(rng: random.Random, level: Difficulty) -> FamilyProblem:
    if level == "basic":
        bits = pick(rng, (4, 6, 8, 10, 12, 14, 16, 24))
        sqnr = f.quantization_sqnr_db(bits)
        q = f"A {bits}-bit uniform quantizer is driven by a full-scale sine wave. What is the SQNR in dB?"
        return FamilyProblem(
            q,
            sqnr,
            "dB",
            (f"SQNR = 6.02*{bits} + 1.76 = {fmt(sqnr)} dB.",),
            "SQNR = 6.02 N + 1.76 dB.",
        )
    target = uniform(rng, 40.0, 110.0, 0)
    bits = f.sqnr_min_bits(target)
    q = f"What is the minimum number of bits a uniform quantizer needs to reach an SQNR of at least {fmt(target)} dB for a full-scale sine?"
    steps = (
        f"N >= ({fmt(target)} - 1.76)/6.02 = {fmt((target - 1.76) / 6.02)}.",
        f"Round up: N = {bits}.",
    )
    return FamilyProblem(q, bits, "bits", steps, "Invert SQNR = 6.02 N + 1.76 and round up.")


MODULATIONS = (("BPSK", 1), ("QPSK", 2), ("16-QAM", 4), ("64-QAM", 6), ("256-QAM", 8))


def ofdm_throughput(rng: random.Random, level: Difficulty) -> FamilyProblem:
    subcarriers = pick(rng, (48, 52, 108, 234, 468, 600, 1200))
    name, bits = pick(rng, MODULATIONS)
    rate = pick(rng, (0.5, 2 / 3, 0.75, 5 / 6))
    rate_text = {0.5: "1/2", 2 / 3: "2/3", 0.75: "3/4", 5 / 6: "5/6"}[rate]
    if level == "basic":
        useful_us, cp_us = pick(rng, ((3.2, 0.8), (3.2, 0.4), (12.8, 3.2), (66.7, 4.7)))
    else:
        spacing_khz = pick(rng, (15, 30, 78.125, 312.5))
        useful_us = 1000.0 / spacing_khz
        cp_us = useful_us * pick(rng, (0.0703, 0.125, 0.25))
    throughput = f.ofdm_throughput_bps(subcarriers, bits, rate, useful_us * 1e-6, cp_us * 1e-6)
    steps = [
        f"Bits per OFDM symbol = {subcarriers}*{bits}*{rate_text} = {fmt(subcarriers * bits * rate)}.",
        f"Symbol time = {fmt(useful_us)} + {fmt(cp_us)} = {fmt(useful_us + cp_us)} us.",
        f"R = {fmt(subcarriers * bits * rate)}/{fmt(useful_us + cp_us)} us = {fmt(throughput / 1e6)} Mbps.",
    ]
    head = f"An OFDM system carries data on {subcarriers} subcarriers with {name} and code rate {rate_text}."
    if level == "basic":
        q = (
            head
            + f" The useful symbol time is {fmt(useful_us)} us and the cyclic prefix {fmt(cp_us)} us. What is the data rate in Mbps?"
        )
        return FamilyProblem(
            q,
            throughput / 1e6,
            "Mbps",
            tuple(steps),
            "Bits per OFDM symbol divided by the symbol time with cyclic prefix.",
        )
    q = (
        head
        + f" The subcarrier spacing is {fmt(spacing_khz)} kHz and the cyclic prefix is {fmt(cp_us / useful_us * 100)}% of the useful symbol. What is the data rate in Mbps?"
    )
    steps.insert(
        0, f"Useful time = 1/{fmt(spacing_khz)} kHz = {fmt(useful_us)} us; CP = {fmt(cp_us)} us."
    )
    return FamilyProblem(
        q,
        throughput / 1e6,
        "Mbps",
        tuple(steps),
        "Useful time is the inverse spacing; divide bits per symbol by symbol time.",
    )


def ber_awgn(rng: random.Random, level: Difficulty) -> FamilyProblem:
    ebn0_db = uniform(rng, 2.0, 11.0, 1)
    if level == "basic":
        ber = f.ber_bpsk_awgn(f.db_to_linear(ebn0_db))
        q = f"Coherent BPSK is received in AWGN at Eb/N0 = {fmt(ebn0_db)} dB. What is the bit error rate?"
        steps = (
            f"Eb/N0 = 10^({fmt(ebn0_db)}/10) = {fmt(f.db_to_linear(ebn0_db))}.",
            f"BER = Q(sqrt(2*{fmt(f.db_to_linear(ebn0_db))})) = {fmt(ber)}.",
        )
        return FamilyProblem(q, ber, "", steps, "BER of BPSK is Q(sqrt(2 Eb/N0)).", rel_tol=0.02)
    esn0_db = round(ebn0_db + 3.0103, 1)
    eb = f.db_to_linear(esn0_db - 3.0103)
    ber = f.qpsk_ber_awgn(f.db_to_linear(esn0_db))
    q = f"Gray-coded QPSK is received in AWGN at Es/N0 = {fmt(esn0_db)} dB. What is the bit error rate?"
    steps = (
        f"Eb/N0 = {fmt(esn0_db)} - 3.01 = {fmt(esn0_db - 3.0103)} dB = {fmt(eb)}.",
        f"BER = Q(sqrt(2*{fmt(eb)})) = {fmt(ber)}.",
    )
    return FamilyProblem(
        q,
        ber,
        "",
        steps,
        "QPSK has two bits per symbol; its BER equals BPSK's at the same Eb/N0.",
        rel_tol=0.02,
    )


def ber_rayleigh(rng: random.Random, level: Difficulty) -> FamilyProblem:
    if level == "basic":
        snr_db = uniform(rng, 0.0, 30.0, 0)
        g = f.db_to_linear(snr_db)
        ber = f.ber_bpsk_rayleigh(g)
        q = f"BPSK is sent over a flat Rayleigh fading channel with average SNR {fmt(snr_db)} dB. What is the average bit error rate?"
        steps = (
            f"g = 10^({fmt(snr_db)}/10) = {fmt(g)}.",
            f"Pb = 0.5*(1 - sqrt({fmt(g)}/(1 + {fmt(g)}))) = {fmt(ber)}.",
        )
        return FamilyProblem(
            q, ber, "", steps, "Average the BPSK error rate over Rayleigh fading.", rel_tol=0.02
        )
    target = pick(rng, (1e-2, 5e-3, 1e-3, 5e-4, 1e-4))
    x = 1 - 2 * target
    g = f.bpsk_rayleigh_required_snr(target)
    q = f"What average SNR in dB does BPSK need on a flat Rayleigh fading channel to reach an average BER of {fmt(target)}?"
    steps = (
        f"sqrt(g/(1+g)) = 1 - 2*{fmt(target)} = {fmt(x)}.",
        f"g = x^2/(1 - x^2) = {fmt(g)} = {fmt(f.linear_to_db(g))} dB.",
    )
    return FamilyProblem(
        q, f.linear_to_db(g), "dB", steps, "Invert the Rayleigh BPSK error-rate formula."
    )


def shannon_capacity(rng: random.Random, level: Difficulty) -> FamilyProblem:
    bw_khz = pick(rng, (3.0, 200.0, 1000.0, 5000.0, 20000.0))
    if level == "basic":
        snr_db = uniform(rng, 0.0, 40.0, 0)
        snr = f.db_to_linear(snr_db)
        cap = f.shannon_capacity_bps(bw_khz * 1e3, snr) / 1e3
        q = f"What is the Shannon capacity in kbps of a {fmt(bw_khz)} kHz channel with an SNR of {fmt(snr_db)} dB?"
        steps = (
            f"SNR = 10^({fmt(snr_db)}/10) = {fmt(snr)}.",
            f"C = {fmt(bw_khz)} kHz * log2(1 + {fmt(snr)}) = {fmt(cap)} kbps.",
        )
        return FamilyProblem(q, cap, "kbps", steps, "C = B log2(1 + SNR).")
    rate = bw_khz * uniform(rng, 0.5, 8.0, 1)
    snr = f.shannon_min_snr_linear(rate, bw_khz)
    q = f"What minimum SNR in dB lets a {fmt(bw_khz)} kHz channel carry {fmt(rate)} kbps error-free?"
    steps = (
        f"SNR = 2^({fmt(rate)}/{fmt(bw_khz)}) - 1 = {fmt(snr)}.",
        f"SNR = 10log10({fmt(snr)}) = {fmt(f.linear_to_db(snr))} dB.",
    )
    return FamilyProblem(q, f.linear_to_db(snr), "dB", steps, "Invert Shannon: SNR = 2^(R/B) - 1.")


def _distribution(rng: random.Random, symbols: int) -> list[float]:
    """Probabilities in steps of 0.05 that sum to exactly 1, sorted descending."""
    cuts = sorted(rng.sample(range(1, 20), symbols - 1))
    parts = [b - a for a, b in zip([0, *cuts], [*cuts, 20], strict=True)]
    return sorted((p / 20 for p in parts), reverse=True)


def source_entropy(rng: random.Random, level: Difficulty) -> FamilyProblem:
    probs = _distribution(rng, 4 if level == "basic" else 5)
    h = f.entropy_bits(probs)
    listed = ", ".join(fmt(p) for p in probs)
    step1 = f"H = -sum p log2 p over ({listed}) = {fmt(h)} bits/symbol."
    if level == "basic":
        q = f"A discrete memoryless source emits symbols with probabilities {listed}. What is its entropy in bits per symbol?"
        return FamilyProblem(q, h, "bits", (step1,), "H = -sum p log2 p.")
    rate = pick(rng, (1000, 2000, 8000, 10000))
    q = f"A source emits {rate} symbols/s with probabilities {listed}. What is its information rate in bits/s?"
    return FamilyProblem(
        q,
        h * rate,
        "bits/s",
        (step1, f"R = {fmt(h)} * {rate} = {fmt(h * rate)} bits/s."),
        "Entropy per symbol times symbol rate.",
    )


def huffman_length(rng: random.Random, level: Difficulty) -> FamilyProblem:
    probs = _distribution(rng, 4 if level == "basic" else 5)
    lengths = f.huffman_lengths(probs)
    avg = f.huffman_average_length(probs)
    listed = ", ".join(fmt(p) for p in probs)
    steps = [
        f"Huffman codeword lengths: {', '.join(str(n) for n in lengths)}.",
        f"L = {' + '.join(f'{fmt(p)}*{n}' for p, n in zip(probs, lengths, strict=True))} = {fmt(avg)} bits.",
    ]
    if level == "basic":
        q = f"Design a binary Huffman code for symbols with probabilities {listed}. What is the average codeword length in bits?"
        return FamilyProblem(
            q,
            avg,
            "bits",
            tuple(steps),
            "Merge the two least likely symbols repeatedly, then average the lengths.",
        )
    h, efficiency = f.entropy_bits(probs), f.huffman_efficiency(probs)
    steps.append(f"H = {fmt(h)} bits; efficiency = {fmt(h)}/{fmt(avg)} = {fmt(100 * efficiency)}%.")
    q = f"A binary Huffman code is built for probabilities {listed}. What is its coding efficiency (entropy over average length) in percent?"
    return FamilyProblem(
        q,
        100 * efficiency,
        "%",
        tuple(steps),
        "Build the Huffman code, then divide entropy by average length.",
    )


FAMILIES_SIGNAL: tuple[Family, ...] = (
    Family("quantization-sqnr", SP, quantization_sqnr),
    Family("ofdm-throughput", SP, ofdm_throughput),
    Family("ber-awgn", SP, ber_awgn),
    Family("ber-rayleigh", SP, ber_rayleigh),
    Family("shannon-capacity", IT, shannon_capacity),
    Family("source-entropy", IT, source_entropy),
    Family("huffman-length", IT, huffman_length),
)
