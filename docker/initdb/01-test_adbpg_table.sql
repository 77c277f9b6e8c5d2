-- The seed scenario's target table (the ADBPG connector example's DDL).
CREATE TABLE test_adbpg_table (b1 int, b2 int, b3 text, PRIMARY KEY (b1));
