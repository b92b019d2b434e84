"""pyomo_ecc.cge"""
