"""The EM engine: a map-reduce over sufficient statistics.

``driver`` runs the one loop; ``schedules`` say how passes combine (batch or
stepwise EM); ``passes`` hands each chunk to its kernel (``kernels``) and
merges the results (``stats``); ``estep`` defines the E-step and its inputs;
``scoring`` maps a fitted mixture over the rows of any source; ``chunks``
and ``threads`` size the chunks and run them side by side. This package
imports nothing on import: its modules are imported where they are used.
"""
