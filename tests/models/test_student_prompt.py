"""The student's view of a problem is one text: every user of it gets the same token ids.

Training, the Phase II NLL scorer, token shift, drift and the model check all render the prompt
through ``student_prompt``; this pins that they agree token for token with each other and with
transformers' own chat template (thinking off).
"""

from transformers import AutoTokenizer

from dta_edge.analysis.token_shift import tokenize_pairs
from dta_edge.curation.nll import TransformersNll
from dta_edge.models.chat import IM_END, student_prompt, user_prompt
from dta_edge.records import ChatMessage, SFTExample
from dta_edge.train.sft import to_prompt_completion

QUESTION = "A link has 120 dB path loss and 20 dBm transmit power. What is the received power?"
SOLUTION = "Step 1: Pr = 20 - 120 = -100 dBm.\nFinal answer: \\boxed{-100} dBm"


def test_every_user_of_the_prompt_sees_the_same_token_ids(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    user = user_prompt(QUESTION)
    encode = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    reference = encode(tokenizer.apply_chat_template(
        [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True,
        enable_thinking=False,
    ))  # fmt: skip
    example = SFTExample(
        id="x", problem_id="p", set_name="dta",
        messages=(ChatMessage(role="user", content=user),
                  ChatMessage(role="assistant", content=SOLUTION)),
    )  # fmt: skip
    training = encode(to_prompt_completion([example], tokenizer.chat_template)[0]["prompt"])
    scorer = TransformersNll.__new__(TransformersNll)  # only its tokenisation, no model loaded
    scorer.tokenizer = tokenizer
    nll_prompt, nll_solution = scorer._ids((user, SOLUTION))
    (token_shift,) = tokenize_pairs(tokenizer, [(user, SOLUTION)])
    drift_and_check = encode(student_prompt(tokenizer.chat_template, user))
    assert training == nll_prompt == list(token_shift.prompt_ids) == drift_and_check == reference
    assert nll_solution == encode(SOLUTION + IM_END)
    assert list(token_shift.solution_ids) == encode(SOLUTION)


def test_nll_and_token_shift_share_one_teacher_forced_scorer(tiny_model_dir):
    """The Phase II NLL is the mean of exactly the log-probs token shift reads, per token."""
    import numpy as np

    from dta_edge.analysis.inputs import load_model
    from dta_edge.analysis.token_shift import TokenizedPair, solution_logprobs

    scorer = TransformersNll(str(tiny_model_dir), device="cpu", batch_size=2)
    user = user_prompt(QUESTION)
    pairs = [(user, SOLUTION), (user_prompt("What is 3 dB in linear terms?"), "About 2.")]
    nll = scorer.nll_per_token(pairs)
    lm = load_model("tiny", str(tiny_model_dir), device="cpu")
    items = []
    for pair in pairs:
        prompt, target = scorer._ids(pair)
        offsets = tuple((0, 0) for _ in target)
        items.append(TokenizedPair(prompt_ids=tuple(prompt), solution_ids=tuple(target),
                                   offsets=offsets, solution=pair[1]))  # fmt: skip
    logprobs = solution_logprobs(lm, items, batch_size=1)
    assert np.allclose(nll, [-values.mean() for values in logprobs], atol=1e-5)
