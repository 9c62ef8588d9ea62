"""Errors a user can cause and fix; entrypoints print them as one line, without a traceback."""


class UserError(Exception):
  """Base of every error that names what the user gave and what is allowed."""


class ConfigError(UserError, ValueError):
  """A bad experiment config: a field, or a config file or variant that --config names."""


class WorkdirError(UserError):
  """The workdir holds results that do not belong to this config."""


class CheckpointError(UserError, ValueError):
  """A checkpoint file that is missing, truncated or of the wrong structure."""


class DataError(UserError, ValueError):
  """A data file that is missing, unreadable, or whose arrays are missing, mis-shaped, non-finite or mislabelled."""


class OutOfMemoryError(UserError):
  """A device ran out of memory running a chunk of lanes (config.max_lanes_per_call bounds a chunk)."""
