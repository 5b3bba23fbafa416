"""Every formula behind the generator, checked against a worked value from a named source."""

import math

import pytest

from dta_edge.tasks.telecom import formulas as f


def close(actual: float, expected: float, rel: float = 1e-3) -> bool:
    return math.isclose(actual, expected, rel_tol=rel)


def test_fspl_2400mhz_100m():
    # Rappaport, Wireless Communications 2nd ed., eq. 4.5 (Friis); 2.4 GHz over 100 m is ~80.0 dB.
    assert close(f.fspl_db(0.1, 2400), 80.05, rel=1e-3)


def test_link_budget_is_additive():
    # Sklar, Digital Communications 2nd ed., ch. 5: Pr = Pt + Gt + Gr - Ls - Lo (dB).
    assert f.received_power_dbm(30, 10, 3, 120, 2) == pytest.approx(-79.0)


def test_okumura_hata_900mhz_1km():
    # Hata (1980), IEEE Trans. Veh. Tech. 29(3); Rappaport eq. 4.82-4.83: 900 MHz, hb 30 m,
    # hm 1.5 m, 1 km in a medium city gives the well-known 126.4 dB (a(hm) = 0.016 dB).
    assert close(f.hata_mobile_correction_db(900, 1.5), 0.0159, rel=1e-2)
    assert close(f.okumura_hata_urban_db(900, 30, 1.5, 1.0), 126.40, rel=1e-4)


def test_okumura_hata_distance_slope():
    # Hata: loss grows by (44.9 - 6.55 log10 hb) dB per decade of distance; 35.2 dB at hb = 30 m.
    slope = f.okumura_hata_urban_db(900, 30, 1.5, 10.0) - f.okumura_hata_urban_db(900, 30, 1.5, 1.0)
    assert close(slope, 44.9 - 6.55 * math.log10(30), rel=1e-9)
    assert close(slope, 35.22, rel=1e-3)


def test_shannon_telephone_channel():
    # Tanenbaum, Computer Networks 5th ed., sec. 2.1.3: 3 kHz at 30 dB SNR -> about 30 kbps.
    assert close(f.shannon_capacity_bps(3000, 1000), 29_902, rel=1e-4)


def test_thermal_noise_kT():
    # Pozar, Microwave Engineering 4th ed., sec. 10.1: kT at 290 K is -174 dBm/Hz.
    assert close(f.thermal_noise_dbm(1.0), -173.98, rel=1e-4)
    assert close(f.thermal_noise_dbm(1e6), -113.98, rel=1e-4)


def test_friis_cascade():
    # Friis (1944), "Noise Figures of Radio Receivers", Proc. IRE 32(7), eq. (7). Worked by hand:
    # LNA NF 2 dB / G 15 dB then mixer NF 10 dB: F = 1.585 + (10 - 1)/31.62 = 1.870 -> 2.717 dB.
    assert close(f.friis_noise_figure_db([(2.0, 15.0), (10.0, 10.0)]), 2.717, rel=1e-3)
    # A single stage is its own noise figure.
    assert close(f.friis_noise_figure_db([(3.0, 20.0)]), 3.0, rel=1e-9)


def test_ber_bpsk_needs_9_6_db_for_1e5():
    # Sklar, Digital Communications 2nd ed., sec. 4.7: coherent BPSK reaches 1e-5 at Eb/N0 = 9.6 dB.
    assert close(f.ber_bpsk_awgn(f.db_to_linear(9.6)), 1.0e-5, rel=0.05)


def test_q_function_values():
    # Abramowitz & Stegun, Table 26.1: Q(1) = 0.158655, Q(3) = 0.001350.
    assert close(f.q_function(1.0), 0.158655, rel=1e-5)
    assert close(f.q_function(3.0), 0.0013499, rel=1e-4)


def test_ber_bpsk_rayleigh():
    # Proakis & Salehi, Digital Communications 5th ed., eq. 13.3-7: (1 - sqrt(g/(1+g)))/2;
    # 10 dB gives 0.0233 and at high SNR it tends to 1/(4 g).
    assert close(f.ber_bpsk_rayleigh(10.0), 0.02327, rel=1e-3)
    assert close(f.ber_bpsk_rayleigh(1e4), 1 / 4e4, rel=1e-3)


def test_rayleigh_outage():
    # Goldsmith, Wireless Communications (2005), sec. 3.2.3: Pout = 1 - exp(-g0/gbar); average SNR
    # 20 dB with a 10 dB threshold gives 1 - e^-0.1 = 0.0952.
    assert close(f.rayleigh_outage(10.0, 100.0), 0.09516, rel=1e-3)


def test_quantization_sqnr_cd_audio():
    # Oppenheim & Schafer, Discrete-Time Signal Processing 3rd ed., sec. 4.8.3: 6.02 N + 1.76 dB,
    # 98.08 dB for 16-bit audio.
    assert close(f.quantization_sqnr_db(16), 98.08, rel=1e-4)


def test_ofdm_80211a_54mbps():
    # IEEE 802.11a-1999, Table 78: 48 data subcarriers, 64-QAM, rate 3/4, 4 us symbols -> 54 Mb/s.
    assert close(f.ofdm_throughput_bps(48, 6, 0.75, 3.2e-6, 0.8e-6), 54e6, rel=1e-9)


def test_entropy_cover_thomas():
    # Cover & Thomas, Elements of Information Theory 2nd ed., Example 2.1.2: H = 1.75 bits.
    assert close(f.entropy_bits([0.5, 0.25, 0.125, 0.125]), 1.75, rel=1e-12)


def test_huffman_cover_thomas():
    # Cover & Thomas, Example 5.6.1: (0.25, 0.25, 0.2, 0.15, 0.15) -> lengths (2,2,2,3,3), L = 2.3.
    assert sorted(f.huffman_lengths([0.25, 0.25, 0.2, 0.15, 0.15])) == [2, 2, 2, 3, 3]
    assert close(f.huffman_average_length([0.25, 0.25, 0.2, 0.15, 0.15]), 2.3, rel=1e-12)


def test_erlang_b_table():
    # Erlang-B table (e.g. Rappaport, Appendix / Fig. 3.6): 10 trunks carry 4.46 E at 1% blocking.
    assert close(f.erlang_b(4.46, 10), 0.01, rel=0.02)
    # One server: B = A / (1 + A).
    assert close(f.erlang_b(2.0, 1), 2 / 3, rel=1e-12)


def test_mm1_kleinrock():
    # Kleinrock, Queueing Systems vol. 1, eq. 3.26: T = 1/(mu - lambda); 8/s into 10/s -> 0.5 s.
    assert close(f.mm1_time_in_system_s(8.0, 10.0), 0.5, rel=1e-12)
    with pytest.raises(ValueError):
        f.mm1_time_in_system_s(10.0, 10.0)


def test_mm2_erlang_c():
    # Gross & Harris, Fundamentals of Queueing Theory, M/M/c: c = 2, lambda = mu = 1 gives
    # P(wait) = 1/3 and Wq = 1/3.
    assert close(f.erlang_c(1.0, 2), 1 / 3, rel=1e-12)
    assert close(f.mmc_waiting_time_s(1.0, 1.0, 2), 1 / 3, rel=1e-12)


def test_poisson_pmf():
    # Ross, A First Course in Probability: P(N = 3) with mean 3 is 0.2240; P(N = 0) = e^-2.
    assert close(f.poisson_pmf(3, 3.0), 0.22404, rel=1e-4)
    assert close(f.poisson_pmf(0, 2.0), math.exp(-2), rel=1e-12)


def test_power_control_feasibility_and_powers():
    # Foschini & Miljanic (1993), IEEE Trans. Veh. Tech. 42(4): feasible iff rho(F) < 1; the minimal
    # powers meet every SINR target with equality.
    gains = [[1.0, 0.1], [0.2, 0.8]]
    gamma, noise = 4.0, 1e-3
    radius, (p1, p2) = f.power_control_two_links(gains, [gamma, gamma], noise)
    assert close(radius, math.sqrt((4 * 0.1 / 1.0) * (4 * 0.2 / 0.8)), rel=1e-12)
    assert close(gains[0][0] * p1 / (gains[0][1] * p2 + noise), gamma, rel=1e-9)
    assert close(gains[1][1] * p2 / (gains[1][0] * p1 + noise), gamma, rel=1e-9)
    infeasible, powers = f.power_control_two_links([[1, 0.5], [0.5, 1]], [4.0, 4.0], noise)
    assert infeasible >= 1 and all(math.isnan(p) for p in powers)


def test_spectral_radius_general_2x2():
    # [[2, 1], [1, 2]] has eigenvalues 3 and 1 (any linear algebra text).
    assert close(f.spectral_radius_2x2([[2, 1], [1, 2]]), 3.0, rel=1e-12)


def test_mathis_tcp():
    # Mathis, Semke, Mahdavi, Ott (1997), CCR 27(3), eq. 3:
    # MSS 1460 B, RTT 100 ms, p = 1% -> 1.43 Mb/s.
    assert close(f.mathis_tcp_throughput_bps(1460, 0.1, 0.01), 1.4306e6, rel=1e-3)


def test_packet_delay_kurose_ross():
    # Kurose & Ross, Computer Networking 7th ed., sec. 1.4: d = L/R + d/s; 1500 B over 10 Mb/s and
    # 2,000 km at 2e8 m/s -> 1.2 ms + 10 ms.
    assert close(f.packet_delay_s(12_000, 10e6, 2_000_000), 0.0112, rel=1e-12)


def test_rc_cutoff():
    # Horowitz & Hill, The Art of Electronics 3rd ed., sec. 1.7: 1 kOhm with 1 uF -> 159 Hz.
    assert close(f.rc_cutoff_hz(1000, 1e-6), 159.15, rel=1e-4)


def test_cqi_table_and_selection():
    # 3GPP TS 36.213 Table 7.2.3-1: CQI 7 is 16QAM, code rate 378/1024, 1.4766 b/s/Hz;
    # CQI 15 is 5.5547.
    assert f.CQI_TABLE[6] == ("16QAM", 378, 1.4766)
    assert f.CQI_TABLE[14][2] == 5.5547
    for modulation, rate, efficiency in f.CQI_TABLE:
        bits = {"QPSK": 2, "16QAM": 4, "64QAM": 6}[modulation]
        assert abs(bits * rate / 1024 - efficiency) <= 5e-5  # the table rounds to 4 decimals
    thresholds = [0.0, 5.0, 10.0]
    assert f.select_cqi(-1.0, thresholds) == 0
    assert f.select_cqi(5.0, thresholds) == 2
    assert f.select_cqi(30.0, thresholds) == 3


def test_db_round_trip():
    assert close(f.linear_to_db(f.db_to_linear(13.0)), 13.0, rel=1e-12)
    assert close(f.db_to_linear(3.0103), 2.0, rel=1e-4)


def test_shannon_inverted():
    # Proakis & Salehi, Digital Communications 5th ed., sec. 6.5: R/B = 1 b/s/Hz needs SNR = 1,
    # i.e. 0 dB; 2 b/s/Hz needs 3 (4.77 dB).
    assert close(f.shannon_min_snr_linear(1e6, 1e6), 1.0, rel=1e-12)
    assert close(f.linear_to_db(f.shannon_min_snr_linear(2e6, 1e6)), 4.771, rel=1e-3)


def test_mathis_inverted():
    # Mathis et al. (1997) eq. 3 solved for p: 1.4306 Mb/s with MSS 1460 B, RTT 100 ms -> p = 1%.
    assert close(f.mathis_max_loss(1460, 0.1, 1.4306e6), 0.01, rel=1e-3)


def test_selection_combining_outage():
    # Goldsmith, Wireless Communications (2005), sec. 7.2.2: Pout = (1 - e^{-g0/gbar})^M; two
    # branches at g0/gbar = 0.1 give 0.0952^2 = 0.00906.
    assert close(f.selection_combining_outage(1.0, 10.0, 2), 0.009056, rel=1e-3)


def test_bpsk_rayleigh_inverted():
    # Goldsmith sec. 6.3.2: BPSK in Rayleigh fading needs about 24 dB mean SNR for Pb = 1e-3.
    assert close(f.linear_to_db(f.bpsk_rayleigh_required_snr(1e-3)), 23.97, rel=1e-3)
    assert close(f.bpsk_rayleigh_required_snr(f.ber_bpsk_rayleigh(10.0)), 10.0, rel=1e-9)


def test_qpsk_equals_bpsk_per_bit():
    # Sklar sec. 4.9.3: Gray-coded QPSK has BPSK's bit error rate at the same Eb/N0.
    assert close(
        f.qpsk_ber_awgn(2 * f.db_to_linear(9.6)), f.ber_bpsk_awgn(f.db_to_linear(9.6)), rel=1e-12
    )


def test_sqnr_min_bits():
    # Oppenheim & Schafer sec. 4.8.3: 16 bits give 98.08 dB, 15 bits only 92.06 dB.
    assert f.sqnr_min_bits(96.0) == 16
    assert f.sqnr_min_bits(92.0) == 15


def test_poisson_cdf():
    # Ross, A First Course in Probability: P(N <= 2) with mean 2 is 5 e^-2 = 0.6767.
    assert close(f.poisson_cdf(2, 2.0), 5 * math.exp(-2), rel=1e-12)


def test_rc_lowpass_gain():
    # Horowitz & Hill sec. 1.7: -3.01 dB at the cutoff, then -20 dB per decade.
    assert close(f.rc_lowpass_gain_db(100.0, 100.0), -3.0103, rel=1e-4)
    assert close(f.rc_lowpass_gain_db(1000.0, 100.0), -20.043, rel=1e-4)


def test_mm1_mean_number():
    # Kleinrock vol. 1, eq. 3.24: N = rho/(1 - rho); rho = 0.8 gives 4 in the system.
    assert close(f.mm1_mean_number(0.8), 4.0, rel=1e-12)
    with pytest.raises(ValueError):
        f.mm1_mean_number(1.0)


def test_carried_traffic():
    # Erlang-B table: 10 trunks offered 4.46 E block 1%, so they carry 4.415 E.
    assert close(f.carried_traffic_erlang(4.46, 10), 4.415, rel=1e-3)


def test_receiver_sensitivity():
    # Pozar sec. 10.1, the -174 dBm/Hz rule: 1 MHz, NF 5 dB, SNR 10 dB -> -174 + 60 + 5 + 10 = -99.
    assert close(f.receiver_sensitivity_dbm(1e6, 5.0, 10.0), -98.98, rel=1e-4)


def test_store_and_forward():
    # Kurose & Ross sec. 1.4.3: N links of L/R each, d_end-end = N L/R (+ propagation).
    # 1500 B at 10 Mb/s over 3 links and 2,000 km: 3.6 ms + 10 ms.
    assert close(f.store_and_forward_delay_s(12_000, 10e6, 3, 2_000_000), 0.0136, rel=1e-12)


def test_huffman_efficiency():
    # Cover & Thomas Example 5.6.1: H = 2.2855 bits against L = 2.3 bits -> 99.37%; dyadic -> 100%.
    assert close(f.huffman_efficiency([0.25, 0.25, 0.2, 0.15, 0.15]), 2.2855 / 2.3, rel=1e-4)
    assert close(f.huffman_efficiency([0.5, 0.25, 0.125, 0.125]), 1.0, rel=1e-12)
