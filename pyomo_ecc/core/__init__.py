"""pyomo_ecc.core"""
