DROP TABLE measure_summaries;
