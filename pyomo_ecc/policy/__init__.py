"""pyomo_ecc.policy"""
