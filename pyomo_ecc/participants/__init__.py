"""pyomo_ecc.participants"""
