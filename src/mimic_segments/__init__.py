"""MIMIC-IV patient segmentation: the Python half of the dbt project.

The package is grouped by job; imports run one way, down this list (a test holds it):

- ``sources``: obtain and verify the MIMIC-IV inputs (the demo, a full release, the HCUP reference)
- ``synthetic``: generate full-size releases fitted to the demo, to test at scale
- ``catalogue``: the feature catalogue, the one definition of every patient feature
- ``segmentation``: the settings, scaler, K-Means, model selection and personas the dbt Python
  models run
- ``publishing``: build into a candidate database and publish it atomically
- ``reporting``: the HTML report, Parquet export, validation report and marts digest

Below them all, the package root: ``PROJECT_ROOT``, ``__version__`` and ``provenance`` (the git
commit a build records), which any subpackage may import and which imports none of them.
"""

from pathlib import Path

__version__ = "0.2.0"

#: The project checkout this package is installed from (an editable install): the dbt
#: project, its seeds, macros and docs.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
