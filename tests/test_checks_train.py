"""hwlib.checks_train: the update-step and next-token checkers accept correct answers written
differently and name each wrong answer they claim to name."""

import pytest
import torch
import torch.nn.functional as F

from hwlib.checks import ExerciseNotDone, check_sample_next, check_train_step


def train_step(model, optimizer, scheduler, micro_batches, grad_clip, *, scale=True, zero=True,
               zero_each=False, sched_each=False, clip_after=False, clip=True, ret="mean",
               step=True):
    """A learner's update step with one mistake switched on at a time."""
    losses = []
    for x, y in micro_batches:
        if zero_each:
            optimizer.zero_grad()
        _, loss = model(x, targets=y)
        (loss / len(micro_batches) if scale else loss).backward()
        losses.append(loss.detach())
        if sched_each:
            scheduler.step()
    if grad_clip > 0 and clip and not clip_after:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if step:
        optimizer.step()
    if grad_clip > 0 and clip_after:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    if not sched_each:
        scheduler.step()
    if zero:
        optimizer.zero_grad()
    total = torch.stack(losses)
    return {"mean": lambda: total.mean().item(), "sum": lambda: total.sum().item(),
            "tensor": lambda: total.mean()}[ret]()


def zero_first(model, optimizer, scheduler, micro_batches, grad_clip):
    """Correct, written differently: zero first, accumulate the scaled sum, clip by hand."""
    optimizer.zero_grad(set_to_none=False)
    n = len(micro_batches)
    total = sum(model(x, targets=y)[1] for x, y in micro_batches) / n
    total.backward()
    if grad_clip:
        norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters()))
        for p in model.parameters():
            p.grad.mul_(min(1.0, grad_clip / (float(norm) + 1e-6)))
    optimizer.step()
    scheduler.step()
    return float(total)


def test_correct_train_steps_pass(capsys):
    assert check_train_step(train_step) is True
    assert check_train_step(zero_first) is True
    assert "with and without clipping" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, diagnosis", [
    ({"scale": False}, "not divided by the number of micro-batches"),
    ({"zero": False}, "gradients are not zeroed"),
    ({"zero_each": True}, "zeroed inside the micro-batch loop"),
    ({"sched_each": True}, "the scheduler is stepped per micro-batch"),
    ({"clip_after": True}, "not clipped before optimizer.step()"),
    ({"clip": False}, "not clipped before optimizer.step()"),
    ({"step": False}, "did not change: call optimizer.step()"),
    ({"ret": "sum"}, "not their sum"),
    ({"ret": "tensor"}, "returned Tensor"),
])
def test_wrong_train_step_named(mistake, diagnosis):
    def wrong(*args):
        return train_step(*args, **mistake)

    with pytest.raises(AssertionError) as err:
        check_train_step(wrong)
    assert diagnosis in str(err.value), str(err.value)


def test_train_step_leaves_global_rng_and_reports_todo():
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    check_train_step(train_step)
    assert torch.equal(torch.rand(2), expected)

    def todo(model, optimizer, scheduler, micro_batches, grad_clip):
        raise NotImplementedError

    with pytest.raises(ExerciseNotDone):
        check_train_step(todo)


# --- sample_next -------------------------------------------------------------------------------
def sample_next(logits, temperature, top_k=None, generator=None, *, mistake=None):
    """The course's three TODOs, with one mistake switched on at a time."""
    if temperature == 0.0 and mistake != "divide at 0":
        return torch.argmax(logits, dim=-1, keepdim=True)
    if mistake != "temperature after softmax":
        logits = logits / temperature
    if top_k is not None:
        k = top_k + (mistake == "k+1")
        v, _ = torch.topk(logits, k)
        logits = logits.masked_fill(logits < v[:, [-1]], float("-inf"))
    if mistake == "logits":
        return torch.multinomial(logits.clamp(min=0), 1, generator=generator)
    probs = F.softmax(logits, dim=-1)
    if mistake == "temperature after softmax":
        probs = probs / temperature
    if mistake == "argmax":
        return probs.argmax(-1, keepdim=True)
    if mistake == "global rng":
        return torch.multinomial(probs, 1)
    return torch.multinomial(probs, 1, generator=generator)


def categorical(logits, temperature, top_k=None, generator=None):
    """Correct, written differently: inverse-CDF sampling from uniforms drawn with generator."""
    if temperature == 0:
        return logits.max(dim=-1, keepdim=True).indices
    scaled = logits / temperature
    if top_k:
        kth = scaled.sort(dim=-1, descending=True).values[:, top_k - 1 : top_k]
        scaled = torch.where(scaled >= kth, scaled, torch.full_like(scaled, -torch.inf))
    cdf = scaled.softmax(-1).cumsum(-1)
    u = torch.rand(logits.size(0), 1, generator=generator)
    return torch.searchsorted(cdf, u).clamp(max=logits.size(-1) - 1).long()


def test_correct_samplers_pass(capsys):
    assert check_sample_next(sample_next) is True
    assert check_sample_next(categorical) is True
    assert "greedy at 0" in capsys.readouterr().out


@pytest.mark.parametrize("mistake, diagnosis", [
    ("divide at 0", "division by zero at temperature 0"),
    ("temperature after softmax", "temperature applied after the softmax"),
    ("k+1", "top-k keeps k+1 tokens"),
    ("logits", "sampling from the logits instead of probabilities"),
    ("argmax", "always the most likely token"),
    ("global rng", "pass generator=generator"),
])
def test_wrong_sampler_named(mistake, diagnosis):
    with pytest.raises(AssertionError) as err:
        check_sample_next(lambda *a, **k: sample_next(*a, **k, mistake=mistake))
    assert diagnosis in str(err.value), str(err.value)


def test_sampler_shape_and_raw_logits_with_negative_values():
    with pytest.raises(AssertionError, match=r"LongTensor of shape \(batch, 1\)"):
        check_sample_next(lambda *a, **k: sample_next(*a, **k).squeeze(1))

    def raw(logits, temperature, top_k=None, generator=None):  # multinomial refuses -inf
        if temperature == 0:
            return logits.argmax(-1, keepdim=True)
        logits = logits / temperature
        if top_k:
            v, _ = torch.topk(logits, top_k)
            logits = logits.masked_fill(logits < v[:, [-1]], float("-inf"))
        return torch.multinomial(logits, 1, generator=generator)

    with pytest.raises(AssertionError, match="sampling from the logits"):
        check_sample_next(raw)
