import { router, adminProcedure } from "@/server/trpc/init";
import { isSiteAdminEmail } from "@/server/auth/session";

export const adminRouter = router({
  /** Every user with the number of projects they belong to. */
  users: adminProcedure.query(async ({ ctx }) => {
    const users = await ctx.prisma.user.findMany({
      orderBy: { createdAt: "asc" },
      include: { _count: { select: { memberships: true } } },
    });
    return users.map((u) => ({
      id: u.id,
      name: u.name,
      email: u.email,
      createdAt: u.createdAt,
      projects: u._count.memberships,
      siteAdmin: isSiteAdminEmail(u.email),
    }));
  }),
});
