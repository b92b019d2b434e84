"""The case library: data files and their manifest (installed as pyomo_ecc.case_library)."""
