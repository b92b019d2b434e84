"""pyomo_ecc.mechanisms"""
