"""See the data: descriptive statistics, univariate discrimination, correlations, redundancy."""

from .describe import describe_inputs, univariate_tests
from .redundancy import correlation_matrix, correlation_with_outcome, redundancy_groups

__all__ = ["describe_inputs", "univariate_tests", "correlation_matrix", "correlation_with_outcome",
           "redundancy_groups"]
