// JdbcTx: pgjdbc with autoCommit off, a refused row in a transaction: executeUpdate, executeBatch, savepoints, locks; a deterministic transcript.
//
// Usage: java -cp .:postgresql.jar JdbcTx JDBC_URL TABLE
// TABLE is (id int PRIMARY KEY, v text NOT NULL). The transcript holds no
// PIDs, OIDs or times: a run through pgbatchd must print what a direct run
// prints.

import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Savepoint;
import java.sql.Statement;
import java.util.Arrays;
import java.util.Properties;

public final class JdbcTx {
	private static void out(String s) {
		System.out.println(s);
	}

	private static String err(SQLException e) {
		return "SQLSTATE " + e.getSQLState() + ": " + e.getMessage().replace('\n', ' ');
	}

	private static int insert(PreparedStatement ps, int id, String v) throws SQLException {
		ps.setInt(1, id);
		ps.setString(2, v);
		return ps.executeUpdate();
	}

	private static void count(Connection c, String table) throws SQLException {
		try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
				"SELECT count(*), coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM " + table)) {
			rs.next();
			out("  rows " + rs.getInt(1) + ": " + rs.getString(2));
		}
	}

	public static void main(String[] args) throws Exception {
		String url = args[0], table = args[1];
		Properties p = new Properties();
		p.setProperty("user", "postgres");
		String sql = "INSERT INTO " + table + " (id, v) VALUES (?, ?)";
		try (Connection c = DriverManager.getConnection(url, p)) {
			c.setAutoCommit(false);
			try (PreparedStatement ps = c.prepareStatement(sql); Statement st = c.createStatement()) {
				out("refused row, then a SELECT");
				out("  insert " + insert(ps, 1, "one"));
				try {
					out("  insert " + insert(ps, 2, null));
				} catch (SQLException e) {
					out("  insert: " + err(e));
				}
				try {
					st.executeQuery("SELECT 1").close();
					out("  select ok");
				} catch (SQLException e) {
					out("  select: " + err(e));
				}
				c.rollback();
				count(c, table);
				c.commit();

				out("executeBatch with a refused row");
				for (int i = 10; i < 20; i++) {
					ps.setInt(1, i);
					ps.setString(2, i == 15 ? null : "b" + i);
					ps.addBatch();
				}
				try {
					out("  counts " + Arrays.toString(ps.executeBatch()));
				} catch (BatchUpdateException e) {
					out("  batch: " + err(e) + " counts " + Arrays.toString(e.getUpdateCounts()));
					if (e.getNextException() != null)
						out("  next: " + err(e.getNextException()));
				}
				c.rollback();
				count(c, table);
				c.commit();

				out("savepoint around a refused row");
				out("  insert " + insert(ps, 30, "thirty"));
				Savepoint sp = c.setSavepoint("sp");
				try {
					out("  insert " + insert(ps, 30, "duplicate"));
				} catch (SQLException e) {
					out("  insert: " + err(e));
				}
				c.rollback(sp);
				out("  insert " + insert(ps, 31, "thirty-one"));
				c.commit();
				count(c, table);
				c.commit();

				out("the transaction's own lock, then a batch");
				st.execute("LOCK TABLE " + table);
				for (int i = 40; i < 45; i++) {
					ps.setInt(1, i);
					ps.setString(2, "l" + i);
					ps.addBatch();
				}
				out("  counts " + Arrays.toString(ps.executeBatch()));
				out("  insert " + insert(ps, 45, "l45"));
				c.commit();
				count(c, table);
				c.commit();
			}
		}
	}
}
