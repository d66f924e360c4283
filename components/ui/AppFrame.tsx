"use client";
import type { ReactNode } from "react";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { signOut } from "next-auth/react";
import { AppShell, Avatar, Badge, Container, Group, Image, Menu, Text, UnstyledButton, Button } from "@mantine/core";
import { IconChevronDown, IconFolderCog, IconFolders, IconHistory, IconActivity, IconLogout, IconRoute, IconShieldCheck, IconShieldExclamation, IconChecklist } from "@tabler/icons-react";
import type { SessionUser } from "@/server/auth/session";

const nav = [
  { href: "/projects", label: "Projects", icon: IconFolders },
  { href: "/tasks", label: "My tasks", icon: IconChecklist },
];

export function AppFrame({ user, children }: { user: SessionUser; children: ReactNode }) {
  const pathname = usePathname();
  return (
    <AppShell header={{ height: 60 }} padding="md" bg="var(--mantine-color-gray-0)">
      <AppShell.Header>
        <Container size="xl" h="100%">
          <Group h="100%" justify="space-between">
            <Group gap="xl">
              <Link href="/projects" style={{ textDecoration: "none", color: "inherit" }}>
                <Group gap={8}>
                  <Image src="/atrium.svg" alt="" w={28} h={28} />
                  <Text fw={700} size="lg">Atrium</Text>
                </Group>
              </Link>
              <Group gap={4}>
                {nav.map((n) => (
                  <Button
                    key={n.href}
                    component={Link}
                    href={n.href}
                    variant={pathname.startsWith(n.href) ? "light" : "subtle"}
                    color={pathname.startsWith(n.href) ? undefined : "gray"}
                    leftSection={<n.icon size={16} />}
                  >
                    {n.label}
                  </Button>
                ))}
              </Group>
            </Group>
            <UserMenu user={user} />
          </Group>
        </Container>
      </AppShell.Header>
      <AppShell.Main>
        <Container size="xl" py="md">{children}</Container>
      </AppShell.Main>
    </AppShell>
  );
}

function UserMenu({ user }: { user: SessionUser }) {
  const label = user.name ?? user.email ?? "Signed in";
  return (
    <Menu position="bottom-end" width={240} withArrow>
      <Menu.Target>
        <UnstyledButton data-testid="user-menu">
          <Group gap={8}>
            <Avatar name={label} color="initials" size="sm" />
            <Text size="sm" fw={500} visibleFrom="sm">{label}</Text>
            <IconChevronDown size={14} />
          </Group>
        </UnstyledButton>
      </Menu.Target>
      <Menu.Dropdown>
        <Menu.Label>
          <Text size="sm" fw={600} c="var(--mantine-color-text)">{label}</Text>
          {user.email && <Text size="xs" c="dimmed">{user.email}</Text>}
          {user.siteAdmin && (
            <Badge mt={6} size="xs" color="grape" leftSection={<IconShieldCheck size={10} />}>Site admin</Badge>
          )}
        </Menu.Label>
        <Menu.Divider />
        {user.siteAdmin && (
          <Menu.Item component={Link} href="/admin/quarantine" leftSection={<IconShieldExclamation size={16} />}>
            Unrouted quarantine
          </Menu.Item>
        )}
        {user.siteAdmin && (
          <>
            <Menu.Item component={Link} href="/admin/deid-floor" leftSection={<IconShieldCheck size={16} />}>
              De-identification floor
            </Menu.Item>
            <Menu.Item component={Link} href="/admin/routing" leftSection={<IconRoute size={16} />}>Site routing</Menu.Item>
            <Menu.Item component={Link} href="/admin/projects" leftSection={<IconFolderCog size={16} />}>Project creation</Menu.Item>
            <Menu.Item component={Link} href="/admin/audit" leftSection={<IconHistory size={16} />}>Site audit log</Menu.Item>
            <Menu.Item component={Link} href="/admin/operations" leftSection={<IconActivity size={16} />}>Operations</Menu.Item>
          </>
        )}
        <Menu.Item leftSection={<IconLogout size={16} />} onClick={() => void signOut({ callbackUrl: "/signin" })}>
          Sign out
        </Menu.Item>
      </Menu.Dropdown>
    </Menu>
  );
}
