"use client";
// The 404 card (app/not-found.tsx): inside the portal frame when signed in, alone otherwise.
import Link from "next/link";
import { Button, Card, Center, Group, Stack, Text, Title } from "@mantine/core";

export function NotFoundCard({ signedIn }: { signedIn: boolean }) {
  return (
    <Center py={60}>
      <Card withBorder radius="md" padding="xl" maw={520} data-testid="not-found">
        <Stack gap="sm">
          <Text size="sm" c="dimmed" fw={600}>404</Text>
          <Title order={2}>This page does not exist</Title>
          <Text size="sm">The address may be mistyped, or the page was moved. Projects you may see are listed on the projects page.</Text>
          <Group mt="xs">
            <Button component={Link} href={signedIn ? "/projects" : "/signin"}>{signedIn ? "Go to your projects" : "Sign in"}</Button>
          </Group>
        </Stack>
      </Card>
    </Center>
  );
}

