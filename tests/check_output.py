"""What an exercise's `check()` printed, for the tests of the exercise checks."""


def hint_for(exercise, capsys) -> str:
    """What `check()` printed for an attempt that must not pass; it must be a hint, not a failure to read."""
    passed = exercise.check()
    said = capsys.readouterr().out
    assert not passed, said
    assert said.startswith("Not yet: ") and "could not read" not in said, said
    return said
