// JdbcClient: drives pgjdbc through statements, server-side prepares, batches, transactions and fetches, printing a deterministic transcript.
//
// Usage: java -cp .:postgresql.jar JdbcClient JDBC_URL USER [PASSWORD]
// The transcript holds no PIDs, OIDs, times or ports, so a run through
// pgbatchd must print exactly what a direct run prints.

import java.math.BigDecimal;
import java.sql.BatchUpdateException;
import java.sql.CallableStatement;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.SQLWarning;
import java.sql.Savepoint;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.util.Properties;

public final class JdbcClient {
	private static void out(String s) {
		System.out.println(s);
	}

	private static String err(SQLException e) {
		return "SQLSTATE " + e.getSQLState() + ": " + e.getMessage().replace('\n', ' ');
	}

	private static void printRows(ResultSet rs) throws SQLException {
		ResultSetMetaData md = rs.getMetaData();
		StringBuilder h = new StringBuilder("  cols:");
		for (int i = 1; i <= md.getColumnCount(); i++)
			h.append(' ').append(md.getColumnLabel(i)).append('/').append(md.getColumnTypeName(i));
		out(h.toString());
		int n = 0;
		while (rs.next()) {
			StringBuilder r = new StringBuilder("  row:");
			for (int i = 1; i <= md.getColumnCount(); i++) {
				String v;
				if (md.getColumnType(i) == Types.BINARY) {
					byte[] b = rs.getBytes(i);
					StringBuilder hex = new StringBuilder("\\x");
					if (b != null)
						for (byte x : b)
							hex.append(String.format("%02x", x & 0xff));
					v = hex.toString();
				} else {
					v = rs.getString(i);
				}
				r.append(' ').append(rs.wasNull() ? "NULL" : v);
			}
			out(r.toString());
			n++;
		}
		out("  (" + n + " rows)");
	}

	private static long count(Connection c, String table) throws SQLException {
		try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT count(*) FROM " + table)) {
			rs.next();
			return rs.getLong(1);
		}
	}

	private static void printWarnings(SQLWarning w) {
		for (; w != null; w = w.getNextWarning())
			out("  warning " + w.getSQLState() + ": " + w.getMessage());
	}

	public static void main(String[] args) throws Exception {
		Properties p = new Properties();
		p.setProperty("user", args[1]);
		if (args.length > 2)
			p.setProperty("password", args[2]);
		p.setProperty("ApplicationName", "JdbcClient");
		try (Connection c = DriverManager.getConnection(args[0], p)) {
			run(c);
		}
		out("done");
	}

	private static void run(Connection c) throws Exception {
		DatabaseMetaData dmd = c.getMetaData();
		out("server " + dmd.getDatabaseProductName() + " " + dmd.getDatabaseMajorVersion());
		try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
			rs.next();
			int pid = c.unwrap(org.postgresql.PGConnection.class).getBackendPID();
			out("BackendKeyData pid is the backend's own: " + (rs.getInt(1) == pid));
		}

		try (Statement s = c.createStatement()) {
			s.execute("CREATE TABLE jt (id int PRIMARY KEY, name text NOT NULL, amount numeric(12,2), "
				+ "ts timestamp, flag boolean, data bytea, f8 float8, big bigint)");
			out("created jt");
		}

		out("== prepared insert reused 12 times (prepareThreshold 5: named statement after 5)");
		try (PreparedStatement ps = c.prepareStatement(
				"INSERT INTO jt (id, name, amount, ts, flag, data, f8, big) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")) {
			for (int i = 1; i <= 12; i++) {
				ps.setInt(1, i);
				ps.setString(2, "name-" + i + (i % 3 == 0 ? " 'quoted' \\ tab\t" : ""));
				ps.setBigDecimal(3, new BigDecimal(i * 100 + ".25"));
				ps.setTimestamp(4, Timestamp.valueOf("2024-01-" + String.format("%02d", i) + " 10:20:30.123456"));
				if (i % 4 == 0)
					ps.setNull(5, Types.BOOLEAN);
				else
					ps.setBoolean(5, i % 2 == 0);
				ps.setBytes(6, new byte[] { (byte) i, 0, (byte) 0xff });
				ps.setDouble(7, i / 3.0);
				ps.setLong(8, 1L << (30 + i));
				out("  insert " + i + " -> " + ps.executeUpdate());
			}
		}

		out("== prepared select reused 8 times");
		try (PreparedStatement ps = c.prepareStatement(
				"SELECT id, name, amount, ts, flag, data, f8, big FROM jt WHERE id = ? OR id = ? + 6 ORDER BY id")) {
			for (int i = 1; i <= 8; i++) {
				ps.setInt(1, i);
				ps.setInt(2, i);
				try (ResultSet rs = ps.executeQuery()) {
					printRows(rs);
				}
			}
		}
		try (Statement s = c.createStatement();
				ResultSet rs = s.executeQuery("SELECT name, from_sql FROM pg_prepared_statements ORDER BY name")) {
			out("server-side prepared statements:");
			printRows(rs);
		}

		out("== executeBatch of 50 inserts");
		try (PreparedStatement ps = c.prepareStatement("INSERT INTO jt (id, name) VALUES (?, ?)")) {
			for (int i = 100; i < 150; i++) {
				ps.setInt(1, i);
				ps.setString(2, "batch-" + i);
				ps.addBatch();
			}
			int[] r = ps.executeBatch();
			int sum = 0;
			for (int x : r)
				sum += x;
			out("  batch counts: " + r.length + " entries, sum " + sum);
		}
		out("  rows now " + count(c, "jt"));

		out("== executeBatch with a unique violation in the middle (autocommit)");
		try (PreparedStatement ps = c.prepareStatement("INSERT INTO jt (id, name) VALUES (?, ?)")) {
			int[] ids = { 200, 201, 5, 202, 203 };
			for (int id : ids) {
				ps.setInt(1, id);
				ps.setString(2, "b2-" + id);
				ps.addBatch();
			}
			try {
				ps.executeBatch();
				out("  no error?!");
			} catch (BatchUpdateException e) {
				StringBuilder sb = new StringBuilder();
				for (int x : e.getUpdateCounts())
					sb.append(' ').append(x);
				out("  BatchUpdateException " + e.getSQLState() + " counts:" + sb);
				out("  message: " + e.getMessage().replace('\n', ' '));
				SQLException next = e.getNextException();
				out("  next: " + (next == null ? "none" : err(next)));
			}
		}
		out("  rows now " + count(c, "jt") + " (200..203 absent: the batch was one transaction)");

		out("== statement batch with an error, in an explicit transaction");
		c.setAutoCommit(false);
		try (Statement s = c.createStatement()) {
			s.addBatch("INSERT INTO jt (id, name) VALUES (300, 'x')");
			s.addBatch("UPDATE jt SET name = name || '!' WHERE id < 3");
			s.addBatch("INSERT INTO jt (id, name) VALUES (301, NULL)");
			s.addBatch("INSERT INTO jt (id, name) VALUES (302, 'y')");
			try {
				s.executeBatch();
			} catch (BatchUpdateException e) {
				out("  BatchUpdateException " + e.getSQLState() + " counts: " + e.getUpdateCounts().length);
				out("  next: " + (e.getNextException() == null ? "none" : err(e.getNextException())));
			}
			try {
				s.executeQuery("SELECT 1");
			} catch (SQLException e) {
				out("  after error in tx: " + err(e));
			}
			c.rollback();
			out("  rolled back; rows now " + count(c, "jt"));
		}

		out("== transactions: commit, rollback, savepoint");
		try (Statement s = c.createStatement()) {
			s.executeUpdate("INSERT INTO jt (id, name) VALUES (400, 'committed')");
			c.commit();
			s.executeUpdate("INSERT INTO jt (id, name) VALUES (401, 'rolled back')");
			c.rollback();
			s.executeUpdate("INSERT INTO jt (id, name) VALUES (402, 'before savepoint')");
			Savepoint sp = c.setSavepoint("sp1");
			try {
				s.executeUpdate("INSERT INTO jt (id, name) VALUES (402, 'dup')");
			} catch (SQLException e) {
				out("  in savepoint: " + err(e));
				c.rollback(sp);
			}
			s.executeUpdate("INSERT INTO jt (id, name) VALUES (403, 'after savepoint')");
			c.commit();
			try (ResultSet rs = s.executeQuery("SELECT id, name FROM jt WHERE id >= 400 ORDER BY id")) {
				printRows(rs);
			}
			c.commit();
		}

		out("== fetch size 7 over 60 rows (portal with row limit)");
		try (PreparedStatement ps = c.prepareStatement(
				"SELECT g, md5(g::text) FROM generate_series(1, 60) g ORDER BY g")) {
			ps.setFetchSize(7);
			long sum = 0;
			int n = 0;
			String last = null;
			try (ResultSet rs = ps.executeQuery()) {
				while (rs.next()) {
					sum += rs.getInt(1);
					last = rs.getString(2);
					n++;
				}
			}
			out("  fetched " + n + " rows, sum " + sum + ", last " + last);
			c.commit();
		}
		c.setAutoCommit(true);

		out("== errors");
		try (Statement s = c.createStatement()) {
			String[] bad = { "SELECT 1/0", "SELECT * FROM nope", "SELEC 1", "INSERT INTO jt (id) VALUES (1)" };
			for (String q : bad) {
				try {
					s.execute(q);
					out("  no error?!");
				} catch (SQLException e) {
					out("  " + err(e));
				}
			}
			try (ResultSet rs = s.executeQuery("SELECT 'alive after errors'")) {
				rs.next();
				out("  " + rs.getString(1));
			}
		}

		out("== notices, multiple results, callable");
		try (Statement s = c.createStatement()) {
			s.execute("DO $$BEGIN RAISE NOTICE 'jdbc notice %', 7; RAISE WARNING 'jdbc warning'; END$$");
			printWarnings(s.getWarnings());
			boolean isRs = s.execute("SELECT 1 AS a; UPDATE jt SET flag = true WHERE id = 1; SELECT 'two' AS b");
			int i = 0;
			while (true) {
				if (isRs) {
					try (ResultSet rs = s.getResultSet()) {
						out("  result " + i + ":");
						printRows(rs);
					}
				} else {
					int uc = s.getUpdateCount();
					if (uc == -1)
						break;
					out("  result " + i + ": update count " + uc);
				}
				isRs = s.getMoreResults();
				i++;
			}
		}
		try (CallableStatement cs = c.prepareCall("{? = call upper(?)}")) {
			cs.registerOutParameter(1, Types.VARCHAR);
			cs.setString(2, "callable");
			cs.execute();
			out("  callable: " + cs.getString(1));
		}

		out("== metadata");
		try (ResultSet rs = dmd.getColumns(null, "public", "jt", null)) {
			StringBuilder sb = new StringBuilder("  jt columns:");
			while (rs.next())
				sb.append(' ').append(rs.getString("COLUMN_NAME")).append(':').append(rs.getString("TYPE_NAME"));
			out(sb.toString());
		}

		out("== query timeout (cancel request)");
		try (Statement s = c.createStatement()) {
			s.setQueryTimeout(1);
			try {
				s.execute("SELECT pg_sleep(20)");
				out("  no error?!");
			} catch (SQLException e) {
				out("  " + err(e));
			}
			try (ResultSet rs = s.executeQuery("SELECT 'alive after cancel'")) {
				rs.next();
				out("  " + rs.getString(1));
			}
		}

		try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(
				"SELECT count(*), sum(id), md5(string_agg(name || coalesce(amount::text, '-'), ',' ORDER BY id)) FROM jt")) {
			out("final state:");
			printRows(rs);
		}
	}
}
