"""The SDK's goal= takes the CLI's --goal forms (proto/spec_util.cc's
ApplyGoal, tested in proto/spec_util_test.cc) and refuses what it does."""
import pytest


def test_goal_forms(stubs):
    from condense.client import parse_goal
    assert parse_goal("max-drop=0.5pt").max_accuracy_drop == pytest.approx(
        0.005)
    assert parse_goal("max-drop=0.005").max_accuracy_drop == 0.005
    assert parse_goal(" max-bytes = 20000 ").max_bytes == 20000
    assert parse_goal("min-ratio=50x").min_ratio == 50
    goal = parse_goal("min-ratio=64")
    assert goal.min_ratio == 64
    assert not goal.HasField("max_accuracy_drop")


@pytest.mark.parametrize("text", [
    "max-drop", "max-drop=", "max-drop=-1pt", "max-drop=lots",
    "max-bytes=0", "max-bytes=1.5", "speed=fast", "min-ratio=inf"])
def test_goal_refusals_say_how_to_write_one(stubs, text):
    from condense.client import parse_goal
    with pytest.raises(ValueError, match="max-drop=0.5pt"):
        parse_goal(text)
