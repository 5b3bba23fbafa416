"""The closed-form results behind the generated problems.

Pure functions of numbers, each checked in tests against a worked textbook value. Logarithmic
quantities are in dB unless a name says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

BOLTZMANN_J_PER_K = 1.380649e-23


def db_to_linear(db: float) -> float:
    """Power ratio from decibels."""
    return 10.0 ** (db / 10.0)


def linear_to_db(ratio: float) -> float:
    """Decibels from a power ratio."""
    return 10.0 * math.log10(ratio)


def fspl_db(distance_km: float, frequency_mhz: float) -> float:
    """Free-space path loss, Friis: 20 log10(d_km) + 20 log10(f_MHz) + 32.44."""
    return 20 * math.log10(distance_km) + 20 * math.log10(frequency_mhz) + 32.44


def received_power_dbm(
    tx_power_dbm: float,
    tx_gain_dbi: float,
    rx_gain_dbi: float,
    path_loss_db: float,
    other_losses_db: float = 0.0,
) -> float:
    """Link budget: transmit power plus antenna gains minus losses."""
    return tx_power_dbm + tx_gain_dbi + rx_gain_dbi - path_loss_db - other_losses_db


def hata_mobile_correction_db(frequency_mhz: float, mobile_height_m: float) -> float:
    """Okumura-Hata mobile-antenna correction a(h_m) for a small or medium city."""
    log_f = math.log10(frequency_mhz)
    return (1.1 * log_f - 0.7) * mobile_height_m - (1.56 * log_f - 0.8)


def okumura_hata_urban_db(
    frequency_mhz: float, base_height_m: float, mobile_height_m: float, distance_km: float
) -> float:
    """Okumura-Hata median path loss in an urban area (small/medium city correction)."""
    log_f = math.log10(frequency_mhz)
    log_hb = math.log10(base_height_m)
    return (
        69.55
        + 26.16 * log_f
        - 13.82 * log_hb
        - hata_mobile_correction_db(frequency_mhz, mobile_height_m)
        + (44.9 - 6.55 * log_hb) * math.log10(distance_km)
    )


def shannon_capacity_bps(bandwidth_hz: float, snr_linear: float) -> float:
    """Shannon-Hartley capacity C = B log2(1 + SNR)."""
    return bandwidth_hz * math.log2(1.0 + snr_linear)


def thermal_noise_dbm(bandwidth_hz: float, temperature_k: float = 290.0) -> float:
    """Thermal noise power kTB in dBm."""
    return linear_to_db(BOLTZMANN_J_PER_K * temperature_k * bandwidth_hz / 1e-3)


def friis_noise_figure_db(stages: Sequence[tuple[float, float]]) -> float:
    """Cascade noise figure (Friis): stages as (noise figure dB, gain dB), input first."""
    total = 0.0
    gain_before = 1.0
    for index, (nf_db, gain_db) in enumerate(stages):
        factor = db_to_linear(nf_db)
        total += factor if index == 0 else (factor - 1.0) / gain_before
        gain_before *= db_to_linear(gain_db)
    return linear_to_db(total)


def q_function(x: float) -> float:
    """Gaussian tail probability Q(x)."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def ber_bpsk_awgn(ebn0_linear: float) -> float:
    """Bit error rate of coherent BPSK (and Gray-coded QPSK) in AWGN: Q(sqrt(2 Eb/N0))."""
    return q_function(math.sqrt(2.0 * ebn0_linear))


def ber_bpsk_rayleigh(mean_snr_linear: float) -> float:
    """Average BPSK bit error rate in flat Rayleigh fading: (1 - sqrt(g/(1+g))) / 2."""
    return 0.5 * (1.0 - math.sqrt(mean_snr_linear / (1.0 + mean_snr_linear)))


def rayleigh_outage(threshold_linear: float, mean_snr_linear: float) -> float:
    """Outage probability of a Rayleigh channel: 1 - exp(-threshold / mean SNR)."""
    return 1.0 - math.exp(-threshold_linear / mean_snr_linear)


def quantization_sqnr_db(bits: int) -> float:
    """Signal-to-quantization-noise ratio of a full-scale sine: 6.02 N + 1.76 dB."""
    return 6.02 * bits + 1.76


def ofdm_throughput_bps(
    data_subcarriers: int, bits_per_symbol: int, code_rate: float, useful_s: float, cp_s: float
) -> float:
    """OFDM bit rate: coded bits per OFDM symbol over the symbol time including cyclic prefix."""
    return data_subcarriers * bits_per_symbol * code_rate / (useful_s + cp_s)


def entropy_bits(probabilities: Sequence[float]) -> float:
    """Shannon entropy in bits of a discrete distribution."""
    return -sum(p * math.log2(p) for p in probabilities if p > 0)


def huffman_lengths(probabilities: Sequence[float]) -> list[int]:
    """Codeword lengths of a binary Huffman code (ties merged in index order, deterministic)."""
    # Each heap entry: (probability, tie-breaker, symbols under this node).
    nodes = [(p, index, [index]) for index, p in enumerate(probabilities)]
    lengths = [0] * len(probabilities)
    counter = len(nodes)
    while len(nodes) > 1:
        nodes.sort(key=lambda node: (node[0], node[1]))
        (p1, _, s1), (p2, _, s2) = nodes[0], nodes[1]
        for symbol in s1 + s2:
            lengths[symbol] += 1
        nodes = [*nodes[2:], (p1 + p2, counter, s1 + s2)]
        counter += 1
    return lengths


def huffman_average_length(probabilities: Sequence[float]) -> float:
    """Expected codeword length in bits of a binary Huffman code."""
    lengths = huffman_lengths(probabilities)
    return sum(p * n for p, n in zip(probabilities, lengths, strict=True))


def erlang_b(traffic_erlang: float, servers: int) -> float:
    """Erlang-B blocking probability, by the stable recursion B(k) = A B(k-1) / (k + A B(k-1))."""
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = traffic_erlang * blocking / (k + traffic_erlang * blocking)
    return blocking


def erlang_c(traffic_erlang: float, servers: int) -> float:
    """Erlang-C probability that an arrival waits (requires traffic < servers)."""
    if traffic_erlang >= servers:
        raise ValueError("Erlang C needs offered traffic below the number of servers")
    b = erlang_b(traffic_erlang, servers)
    return servers * b / (servers - traffic_erlang * (1.0 - b))


def mm1_time_in_system_s(arrival_rate: float, service_rate: float) -> float:
    """Mean sojourn time of an M/M/1 queue, 1 / (mu - lambda)."""
    if arrival_rate >= service_rate:
        raise ValueError("M/M/1 is unstable when arrival rate >= service rate")
    return 1.0 / (service_rate - arrival_rate)


def mmc_waiting_time_s(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Mean queueing delay (before service) of an M/M/c queue: C(c, A) / (c mu - lambda)."""
    traffic = arrival_rate / service_rate
    return erlang_c(traffic, servers) / (servers * service_rate - arrival_rate)


def poisson_pmf(k: int, mean: float) -> float:
    """P(N = k) for a Poisson count with the given mean."""
    return math.exp(-mean) * mean**k / math.factorial(k)


def spectral_radius_2x2(matrix: Sequence[Sequence[float]]) -> float:
    """Largest eigenvalue magnitude of a 2x2 matrix (closed form)."""
    (a, b), (c, d) = matrix
    trace, det = a + d, a * d - b * c
    disc = trace * trace / 4.0 - det
    if disc >= 0:
        root = math.sqrt(disc)
        return max(abs(trace / 2.0 + root), abs(trace / 2.0 - root))
    return math.sqrt(det)


def power_control_two_links(
    gains: Sequence[Sequence[float]], sinr_targets: Sequence[float], noise_w: float
) -> tuple[float, tuple[float, float]]:
    """Foschini-Miljanic feasibility for two links.

    F[i][j] = target_i * G[i][j] / G[i][i] (i != j), u_i = target_i * noise / G[i][i]. The targets
    are feasible iff the spectral radius of F is below 1; the minimal powers are (I - F)^-1 u.

    Returns:
        (spectral radius of F, minimal powers in watts; NaN when infeasible).
    """
    f01 = sinr_targets[0] * gains[0][1] / gains[0][0]
    f10 = sinr_targets[1] * gains[1][0] / gains[1][1]
    radius = spectral_radius_2x2([[0.0, f01], [f10, 0.0]])
    if radius >= 1.0:
        return radius, (math.nan, math.nan)
    u0 = sinr_targets[0] * noise_w / gains[0][0]
    u1 = sinr_targets[1] * noise_w / gains[1][1]
    det = 1.0 - f01 * f10
    return radius, ((u0 + f01 * u1) / det, (u1 + f10 * u0) / det)


def mathis_tcp_throughput_bps(mss_bytes: float, rtt_s: float, loss_probability: float) -> float:
    """Mathis et al. (1997) steady-state TCP throughput: (MSS / RTT) * sqrt(3/2) / sqrt(p)."""
    return mss_bytes * 8.0 / rtt_s * math.sqrt(1.5) / math.sqrt(loss_probability)


def packet_delay_s(
    packet_bits: float, rate_bps: float, distance_m: float, propagation_m_s: float = 2e8
) -> float:
    """One-hop delay: transmission (L / R) plus propagation (d / s)."""
    return packet_bits / rate_bps + distance_m / propagation_m_s


def rc_cutoff_hz(resistance_ohm: float, capacitance_f: float) -> float:
    """-3 dB cutoff of a first-order RC low-pass filter, 1 / (2 pi R C)."""
    return 1.0 / (2.0 * math.pi * resistance_ohm * capacitance_f)


# 3GPP TS 36.213 Table 7.2.3-1 (4-bit CQI): (modulation, code rate x 1024, efficiency b/s/Hz).
CQI_TABLE: tuple[tuple[str, int, float], ...] = (
    ("QPSK", 78, 0.1523),
    ("QPSK", 120, 0.2344),
    ("QPSK", 193, 0.3770),
    ("QPSK", 308, 0.6016),
    ("QPSK", 449, 0.8770),
    ("QPSK", 602, 1.1758),
    ("16QAM", 378, 1.4766),
    ("16QAM", 490, 1.9141),
    ("16QAM", 616, 2.4063),
    ("64QAM", 466, 2.7305),
    ("64QAM", 567, 3.3223),
    ("64QAM", 666, 3.9023),
    ("64QAM", 772, 4.5234),
    ("64QAM", 873, 5.1152),
    ("64QAM", 948, 5.5547),
)


def select_cqi(snr_db: float, thresholds_db: Sequence[float]) -> int:
    """Highest CQI index (1-based) whose SNR threshold is met; 0 when none is (out of range)."""
    chosen = 0
    for index, threshold in enumerate(thresholds_db, start=1):
        if snr_db >= threshold:
            chosen = index
    return chosen


def shannon_min_snr_linear(rate_bps: float, bandwidth_hz: float) -> float:
    """Least SNR carrying ``rate_bps`` through ``bandwidth_hz``: 2^(R/B) - 1 (Shannon inverted)."""
    return 2.0 ** (rate_bps / bandwidth_hz) - 1.0


def mathis_max_loss(mss_bytes: float, rtt_s: float, throughput_bps: float) -> float:
    """Highest loss rate that still allows ``throughput_bps`` by the Mathis model (inverted)."""
    return (mss_bytes * 8.0 * math.sqrt(1.5) / (rtt_s * throughput_bps)) ** 2


def selection_combining_outage(
    threshold_linear: float, mean_snr_linear: float, branches: int
) -> float:
    """Outage of selection combining over i.i.d. Rayleigh branches: (1 - exp(-g0/gbar))^M."""
    return rayleigh_outage(threshold_linear, mean_snr_linear) ** branches


def bpsk_rayleigh_required_snr(target_ber: float) -> float:
    """Mean SNR (linear) at which BPSK in Rayleigh fading reaches ``target_ber`` (inverted)."""
    x = 1.0 - 2.0 * target_ber
    return x * x / (1.0 - x * x)


def qpsk_ber_awgn(esn0_linear: float) -> float:
    """Gray-coded QPSK bit error rate from Es/N0: each bit sees BPSK at Eb/N0 = Es/N0 / 2."""
    return ber_bpsk_awgn(esn0_linear / 2.0)


def sqnr_min_bits(target_db: float) -> int:
    """Fewest quantizer bits whose full-scale-sine SQNR reaches ``target_db``."""
    return math.ceil((target_db - 1.76) / 6.02)


def poisson_cdf(k: int, mean: float) -> float:
    """P(N <= k) for a Poisson count with the given mean."""
    return sum(poisson_pmf(i, mean) for i in range(k + 1))


def rc_lowpass_gain_db(frequency_hz: float, cutoff_hz: float) -> float:
    """Gain of a first-order low-pass at ``frequency_hz``: -10 log10(1 + (f/fc)^2)."""
    return -10.0 * math.log10(1.0 + (frequency_hz / cutoff_hz) ** 2)


def mm1_mean_number(utilisation: float) -> float:
    """Mean number in an M/M/1 system, rho / (1 - rho)."""
    if not 0 <= utilisation < 1:
        raise ValueError("M/M/1 needs 0 <= rho < 1")
    return utilisation / (1.0 - utilisation)


def carried_traffic_erlang(traffic_erlang: float, servers: int) -> float:
    """Traffic carried by a loss system: offered traffic times (1 - Erlang-B blocking)."""
    return traffic_erlang * (1.0 - erlang_b(traffic_erlang, servers))


def receiver_sensitivity_dbm(
    bandwidth_hz: float, noise_figure_db: float, snr_db: float, temperature_k: float = 290.0
) -> float:
    """Weakest usable signal: thermal noise kTB plus noise figure plus required SNR (dBm)."""
    return thermal_noise_dbm(bandwidth_hz, temperature_k) + noise_figure_db + snr_db


def store_and_forward_delay_s(
    packet_bits: float, rate_bps: float, hops: int, distance_m: float, propagation_m_s: float = 2e8
) -> float:
    """End-to-end delay over ``hops`` equal store-and-forward links: N L/R + d/s."""
    return hops * packet_bits / rate_bps + distance_m / propagation_m_s


def huffman_efficiency(probabilities: Sequence[float]) -> float:
    """Entropy divided by the Huffman code's average length (1 for dyadic sources)."""
    return entropy_bits(probabilities) / huffman_average_length(probabilities)
